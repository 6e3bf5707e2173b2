import type { Command } from 'commander';
import { VERSION } from '../../version.js';
import { dataFormatOption, printData, type DataFormat } from '../output.js';

/** `faultline version [-o json|yaml]`: the version, and the Node.js and platform it runs on. */
export function register(program: Command): void {
  program
    .command('version')
    .description('print the version of faultline and of the Node.js it runs on')
    .addOption(dataFormatOption())
    .action((flags: { output: DataFormat }) => {
      const data = { version: VERSION, node: process.version, platform: process.platform, arch: process.arch };
      printData(flags.output, data, () => `faultline ${VERSION} (Node.js ${process.version}, ${process.platform}/${process.arch})\n`);
    });
}
