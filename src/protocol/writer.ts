/**
 * Batches response lines: everything answered while one input chunk is
 * processed goes out in one write, flushed in a microtask, so a burst of
 * gets costs one syscall and a lone async answer is still sent at once.
 */
import { encodeResponse, type Response } from "./messages.ts";

export class ResponseWriter {
  private lines: string[] = [];
  private scheduled = false;

  /** `sink` receives whole batches of lines and must send them promptly. */
  constructor(private readonly sink: (data: string) => void) {}

  send(res: Response): void {
    this.lines.push(encodeResponse(res));
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.lines.length === 0) return;
    const data = this.lines.length === 1 ? this.lines[0]! : this.lines.join("");
    this.lines = [];
    this.sink(data);
  }
}
