// Runs one scenario: `node run.mjs <scenario>`. Exit code 0 means it passed; otherwise the
// failed step, its page URL and the page's [role=alert] text are printed.
import { existsSync } from 'node:fs';
import { Scenario, StepFailure } from './lib.mjs';

const name = process.argv[2];
const file = new URL(`./scenarios/${name}.mjs`, import.meta.url);
if (!name || !existsSync(file)) {
  console.error(`usage: node run.mjs <scenario>; no scenario named ${JSON.stringify(name)} in scenarios/`);
  process.exit(2);
}

const { default: run } = await import(file);
const scenario = new Scenario(name);
let failed = false;
try {
  await scenario.start();
  await run(scenario);
  console.log(`PASS ${name} (${scenario.lang})`);
} catch (error) {
  failed = true;
  console.error(error instanceof StepFailure ? `FAIL ${error.message}` : `FAIL ${name}: ${error.stack}`);
} finally {
  await scenario.close();
}
process.exit(failed ? 1 : 0);
