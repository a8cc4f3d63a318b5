/**
 * The commands we implement. The session's handler table (server/session.ts)
 * is typed by this list, so a command cannot be announced without a handler
 * nor handled without being announced, and the capability line is made from
 * it. Kept alone so the entry point can send the line before loading
 * anything else.
 */
export const COMMANDS = ["get", "put", "close"] as const;

export type Command = (typeof COMMANDS)[number];

/** The first line we write, before anything slow: ID 0 with our commands. */
export const CAPABILITY_LINE = `${JSON.stringify({ ID: 0, KnownCommands: COMMANDS })}\n`;
