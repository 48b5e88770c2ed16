/**
 * Turns a `plugin:` value into a PluginFactory, importing it only when a route uses it.
 *   memory | nats | ...      a folder under plugins/ (the built-ins are listed in package.json)
 *   ./my-plugin.js, /abs/x   a file, relative to the config directory
 *   busgate-plugin-foo       an npm package, resolved from the working directory first
 * Each way a plugin can be broken has its own error code, and the daemon refuses to start.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { StartupError, describeError } from '../errors.js';
import { builtInPluginNames } from './built-ins.js';
import { PLUGIN_API_VERSION, isMode, type PluginFactory } from './contract.js';

export { builtInPluginNames };

const BUILT_IN_DIR = fileURLToPath(new URL('../../plugins/', import.meta.url));

export type PluginErrorCode = 'plugin_not_found' | 'plugin_dependency_missing' | 'plugin_load_failed' | 'plugin_invalid' | 'plugin_api_version';

/** Where the plugin's entry module is, or a plugin_not_found error. */
export function locatePlugin(spec: string, configDir: string): string {
  if (spec.startsWith('.') || path.isAbsolute(spec)) {
    const file = path.resolve(configDir, spec);
    if (!fs.existsSync(file)) fail('plugin_not_found', spec, `no file at ${file}`);
    return file;
  }
  if (/^[a-z][a-z0-9-]*$/.test(spec)) {
    const builtIn = path.join(BUILT_IN_DIR, spec, 'index.js');
    if (fs.existsSync(builtIn)) return builtIn;
  }
  for (const base of [path.join(process.cwd(), 'package.json'), fileURLToPath(import.meta.url)]) {
    try {
      return createRequire(base).resolve(spec);
    } catch {
      // try the next place
    }
  }
  const builtIns = builtInPluginNames().join(', ');
  return fail('plugin_not_found', spec, `not a built-in plugin (${builtIns}), a file, or an installed npm package`);
}

export async function loadPlugin(spec: string, configDir: string): Promise<PluginFactory> {
  const file = locatePlugin(spec, configDir);
  let loaded: unknown;
  try {
    loaded = await import(pathToFileURL(file).href);
  } catch (error) {
    const missing = missingModuleName(error);
    if (missing !== undefined) {
      fail('plugin_dependency_missing', spec, `it needs "${missing}", which is not installed: run npm install ${missing}`, error);
    }
    fail('plugin_load_failed', spec, `it threw while loading: ${describeError(error)}`, error);
  }
  const factory = (loaded as { default?: unknown }).default;
  checkFactory(spec, factory);
  return factory;
}

function checkFactory(spec: string, factory: unknown): asserts factory is PluginFactory {
  if (typeof factory !== 'object' || factory === null) {
    fail('plugin_invalid', spec, 'its default export is not a plugin factory object');
  }
  const candidate = factory as Partial<Record<keyof PluginFactory, unknown>>;
  if (candidate.apiVersion !== PLUGIN_API_VERSION) {
    fail('plugin_api_version', spec, `it declares apiVersion ${JSON.stringify(candidate.apiVersion)}; this busgate speaks ${PLUGIN_API_VERSION}`);
  }
  const problems: string[] = [];
  if (typeof candidate.name !== 'string') problems.push('name must be a string');
  if (!Array.isArray(candidate.modes) || candidate.modes.length === 0 || !candidate.modes.every(isMode)) {
    problems.push('modes must list pubsub, point-to-point and/or request-reply');
  }
  if (typeof candidate.optionsSchema !== 'object' || candidate.optionsSchema === null) problems.push('optionsSchema must be a JSON Schema object');
  if (typeof candidate.create !== 'function') problems.push('create must be a function');
  if (problems.length > 0) fail('plugin_invalid', spec, problems.join('; '));
}

function missingModuleName(error: unknown): string | undefined {
  if ((error as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') return undefined;
  const match = /Cannot find (?:package|module) '([^']+)'/.exec(describeError(error));
  return match?.[1];
}

function fail(code: PluginErrorCode, spec: string, reason: string, cause?: unknown): never {
  throw new StartupError(code, `plugin "${spec}": ${reason}`, [], cause);
}
