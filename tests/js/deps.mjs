// The JavaScript dependencies of tests and benchmarks live in tools/node_modules (tools/package.json):
// the project's top level holds no package.json. Import them through this require.
import { createRequire } from 'node:module';
export const require = createRequire(new URL('../../tools/package.json', import.meta.url));
export const sourceDir = new URL('../../', import.meta.url).pathname;
export const buildDir = process.env.DF_BUILD_DIR || new URL('../../build/', import.meta.url).pathname;
export const sharedDir = process.env.DF_SHARED_DIR || new URL('../../../shared/', import.meta.url).pathname;
