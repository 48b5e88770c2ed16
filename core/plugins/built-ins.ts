/**
 * The plugins that ship with busgate, and what each declares about its built-in instance.
 *
 * Which plugins are built in is a list in package.json (`busgate.builtInPlugins`): it states what
 * this package ships, in the order the docs and messages use, next to `bin` and `exports`; a
 * folder under plugins/ that is not listed (a plugin in progress, a fixture) does not quietly
 * become an instance every config has. What each built-in instance is fed from (env var, config
 * key, default) is declared by the plugin itself in `plugins/<name>/plugin.json`: plain data, so
 * the config can read it synchronously without importing the plugin's client library (a daemon
 * that routes only to NATS never loads kafkajs). The core names no plugin.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StartupError } from '../errors.js';

/** One setting of a built-in instance that the daemon config feeds (env var, config key). */
export interface BuiltInSetting {
  /** The instance option it fills, e.g. `url`. */
  readonly option: string;
  /** The daemon config key, e.g. `nats.url` (settable in config files). */
  readonly key: string;
  readonly env: string;
  readonly default: string | readonly string[];
  /** A comma-separated list in the environment, an array in files. */
  readonly list?: boolean;
  /** Never printed (it may hold credentials). */
  readonly sensitive?: boolean;
  readonly doc: string;
}

/** `plugins/<name>/plugin.json`: what a plugin declares before it is loaded. */
export interface PluginManifest {
  readonly name: string;
  readonly description: string;
  readonly builtIn?: { readonly instance: string; readonly settings: readonly BuiltInSetting[] };
  /** URL schemes of IDEMPOTENCY_STORE this plugin serves (its factory's claimStore opens them). */
  readonly claimStoreSchemes?: readonly string[];
  /**
   * The broker lives inside the daemon's process: with several workers each would have its own,
   * so WORKERS=auto runs one process for a routes file that uses it.
   */
  readonly processLocal?: boolean;
}

/** The built-in plugin that serves `scheme` as a shared idempotency store, if any. */
export function claimStorePlugin(scheme: string): string | undefined {
  return builtInManifests().find((manifest) => manifest.claimStoreSchemes?.includes(scheme))?.name;
}

const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PLUGINS_DIR = fileURLToPath(new URL('../../plugins/', import.meta.url));

let cached: readonly PluginManifest[] | undefined;

/** The built-in plugins' manifests, in the order package.json lists them. */
export function builtInManifests(): readonly PluginManifest[] {
  cached ??= readManifests();
  return cached;
}

export function builtInPluginNames(): string[] {
  return builtInManifests().map((manifest) => manifest.name);
}

function readManifests(): PluginManifest[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { busgate?: { builtInPlugins?: unknown } };
  const names = pkg.busgate?.builtInPlugins;
  if (!Array.isArray(names) || !names.every((name) => typeof name === 'string')) {
    throw new StartupError('config_invalid', 'package.json has no "busgate.builtInPlugins" list of plugin names');
  }
  return names
    .map((name: string) => {
      const file = path.join(PLUGINS_DIR, name, 'plugin.json');
      // Absent when the package was installed without a plugin's folder: that plugin is just not built in.
      if (!fs.existsSync(file)) return undefined;
      const manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as PluginManifest;
      if (manifest.name !== name) throw new StartupError('config_invalid', `${file} declares name "${manifest.name}", not "${name}"`);
      return manifest;
    })
    .filter((manifest): manifest is PluginManifest => manifest !== undefined);
}
