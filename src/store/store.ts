/**
 * The cache contract shared by every tier.
 *
 * A get answers an action ID with the output it produced; a put records an
 * action's output, whose bytes are streamed in. IDs are 64-digit lower-case
 * hex SHA-256s. A miss is `undefined`, never an exception: an exception means
 * the tier failed.
 */

/** What an action produced: the output's ID (its SHA-256), size and when it was stored. */
export interface ActionRecord {
  outputId: string;
  size: number;
  /** Unix nanoseconds; sent back to the go command so `go clean -testcache` works. */
  timeNanos: bigint;
}

/**
 * An action's record with its action ID: the mapping from an action to its
 * output, as the upload journal, the bucket's `ax` records and manifests
 * carry it.
 */
export interface Mapping extends ActionRecord {
  actionId: string;
}

/** A hit: the record plus an absolute path of a file holding the output. */
export interface Entry extends ActionRecord {
  diskPath: string;
}

export interface PutRequest {
  actionId: string;
  outputId: string;
  size: number;
}

/** Receives one put's body. Nothing is visible to gets until commit succeeds. */
export interface PutSink {
  write(bytes: Uint8Array): void;
  /** Verifies size and SHA-256 against the request, then publishes the entry. Throws on mismatch. */
  commit(): Entry | Promise<Entry>;
  /** Discards everything written. */
  abort(): void;
}

/** One go command's session (direct mode: the process; serve: a connection). */
export interface SessionHandle {
  readonly id: number;
}

/** The callbacks a protocol session needs: get, put and close. */
export interface Cache {
  /** The entry for an action, or undefined for a miss. The file must stay until close. */
  get(actionId: string, session?: SessionHandle): Entry | undefined | Promise<Entry | undefined>;
  /** Starts a put; its body is written to the returned sink. */
  put(req: PutRequest, session?: SessionHandle): PutSink;
  /** Optional: a session starts; the handle is passed to its gets and puts. */
  openSession?(): SessionHandle;
  /**
   * Optional: a session ended (`completed`: with a close request, not a
   * dropped connection). Resolves when its bookkeeping is done; never needed
   * before answering the go command.
   */
  closeSession?(session: SessionHandle, completed: boolean): Promise<void>;
  /**
   * Optional: true while the cache has work of its own that runs on the event
   * loop (a remote worker's reports, upload timers). Direct mode reads its
   * input with blocking reads only while this is false and no answer is
   * pending; absent means never.
   */
  usesEventLoop?(): boolean;
  /** The session ended: finish background work (bounded) and release resources. */
  close(): Promise<void>;
}

export type Awaitable<T> = T | Promise<T>;
