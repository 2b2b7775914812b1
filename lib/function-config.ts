import { type FunctionConfig, readConfig } from './config';

/**
 * The functions' configuration, read and checked once when a function's module loads: a bad
 * variable fails the cold start with one line naming it. A module of its own so that what needs
 * only the configuration (the logger, the migration) does not bundle the runtime's services.
 */
export const config: FunctionConfig = readConfig(process.env);
