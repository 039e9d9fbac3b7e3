/** Plugins shipped with ockle: name → config template (validated in [plugins.NAME]). */
import type { Template } from '../src/config/types.js';
import * as autoControl from './auto-control/index.js';

export const builtinPluginTemplates: ReadonlyMap<string, Template> = new Map<string, Template>([[autoControl.name, autoControl.config]]);
