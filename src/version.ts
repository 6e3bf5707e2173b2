import { readFileSync } from 'node:fs';

/**
 * The package's version, read from its package.json (one level up from src/ and from dist/
 * alike), so that `--version`, `GET /status` and the injector's status annotation never drift
 * from what was released.
 */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
