import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_IMAGE } from '../../kubernetes/builders.js';
import { EXAMPLE_HEADER, exampleObjects, installObjects, toYaml } from '../../kubernetes/manifests.js';

/** Writes manifests/ from the typed builders (`npm run manifests`): `faultline install`'s default output and the example. */
export function register(program: Command): void {
  program
    .command('manifests', { hidden: true })
    .description('write the Kubernetes manifests from the typed builders')
    .option('--out <dir>', 'output directory', 'manifests')
    .option('--image <image>', 'the faultline image', DEFAULT_IMAGE)
    .action((flags: { out: string; image: string }) => {
      writeFileSync(join(flags.out, 'faultline.yaml'), toYaml(installObjects({ image: flags.image })));
      writeFileSync(join(flags.out, 'example.yaml'), toYaml(exampleObjects(), EXAMPLE_HEADER));
    });
}
