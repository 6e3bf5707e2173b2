import { main } from './program.js';

/** `faultline` entry point (bin/faultline.js loads this): see program.ts. */
const code = await main(process.argv.slice(2));
if (code !== 0) process.exitCode = code;
