/** Every driver shipped with ockle. Add new drivers here. */
import type { DriverDefinition } from './types.js';

export const builtinDrivers: readonly DriverDefinition[] = [];
