import { runHelper } from './helper.js';

// `faultline interception-helper ARGS` (see bin/faultline.js): the root helper of on-demand interception.
runHelper(process.argv.slice(3));
