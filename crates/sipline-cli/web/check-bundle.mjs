// Proves the committed bundle dist/phone.js is what the sources build to: runs the "build"
// script of package.json with its output in a temporary directory and compares the bytes.
// Run after `npm ci` (scripts/test does): `npm run check`. Exit status 1 on a difference.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

const here = new URL(".", import.meta.url).pathname;
const build = JSON.parse(readFileSync(join(here, "package.json"), "utf8")).scripts.build;
const committed = "--outfile=dist/phone.js";
if (!build.includes(committed)) {
  console.error(`check-bundle: the build script does not write ${committed}: ${build}`);
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), "sipline-phone-"));
try {
  const fresh = join(dir, "phone.js");
  execFileSync("sh", ["-c", build.replace(committed, `--outfile=${fresh}`)], {
    cwd: here,
    stdio: "inherit",
    env: { ...process.env, PATH: join(here, "node_modules", ".bin") + delimiter + process.env.PATH },
  });
  const a = readFileSync(join(here, "dist", "phone.js"));
  const b = readFileSync(fresh);
  if (!a.equals(b)) {
    console.error(
      `check-bundle: dist/phone.js (${a.length} bytes) differs from a fresh build of the sources ` +
        `(${b.length} bytes): run \`npm run build\` in crates/sipline-cli/web and commit dist/phone.js`,
    );
    process.exit(1);
  }
  console.log(`check-bundle: dist/phone.js matches the sources (${a.length} bytes)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
