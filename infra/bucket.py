"""The results bucket: the hosts' drop zone for one run (FMBench's write bucket).

Private, encrypted and short-lived. Harvest copies everything out before
teardown, so `force_destroy` lets the stack delete it even if a host wrote
something after the harvest; the lifecycle rule only matters if teardown
never ran.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from fmbench_orch.models.spec import BucketSpec

# SSE-S3: encrypted at rest without a KMS key the host role would also need
# permission to use (and that would outlive the run).
SSE_ALGORITHM = "AES256"
# Uploads that never completed cost money and are invisible in listings; one
# day is plenty for any host to finish one.
ABORT_INCOMPLETE_UPLOAD_DAYS = 1


class ResultsBucket(pulumi.ComponentResource):
    """A private, encrypted, expiring S3 bucket named exactly as the spec says.

    The sub-resources name the bucket by its known name rather than its id
    output, so policy checks see every property during a first preview.
    """

    name: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(
        self,
        spec: BucketSpec,
        tags: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fmbench:index:ResultsBucket", spec.name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        bucket = aws.s3.Bucket(
            spec.name,
            bucket=spec.name,
            region=spec.region,
            force_destroy=True,
            tags={**tags, "Name": spec.name},
            opts=child,
        )
        after_bucket = pulumi.ResourceOptions(parent=self, depends_on=[bucket])

        aws.s3.BucketPublicAccessBlock(
            f"{spec.name}-public-access",
            bucket=spec.name,
            region=spec.region,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=after_bucket,
        )
        aws.s3.BucketOwnershipControls(
            f"{spec.name}-ownership",
            bucket=spec.name,
            region=spec.region,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=after_bucket,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{spec.name}-encryption",
            bucket=spec.name,
            region=spec.region,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": SSE_ALGORITHM
                    },
                    "bucket_key_enabled": True,
                }
            ],
            opts=after_bucket,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{spec.name}-expiry",
            bucket=spec.name,
            region=spec.region,
            rules=[
                {
                    "id": "expire-unharvested-results",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "expiration": {"days": spec.expire_days},
                    "abort_incomplete_multipart_upload": {
                        "days_after_initiation": ABORT_INCOMPLETE_UPLOAD_DAYS
                    },
                }
            ],
            opts=after_bucket,
        )

        self.name = bucket.bucket
        self.arn = bucket.arn
        self.register_outputs({"name": self.name, "arn": self.arn})
