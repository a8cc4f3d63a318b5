/** The first line we write, before anything slow: ID 0 with our commands. Kept alone so the entry point can send it before loading anything else. */
export const CAPABILITY_LINE = '{"ID":0,"KnownCommands":["get","put","close"]}\n';
