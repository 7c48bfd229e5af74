/**
 * What onnxruntime-web printed: it prints a session's profile (which provider ran each node) with
 * console.log instead of returning it. index.html wraps console.log before onnxruntime-web starts;
 * while a capture is on, printed lines are kept here (and not shown in the console) until taken.
 */
interface Printed { lines: string[]; capturing: boolean }

const printed = (): Printed => (window as unknown as { deqPrinted: Printed }).deqPrinted;

/** Keep what is printed from now on. */
export function startCapture(): void {
  printed().lines.length = 0;
  printed().capturing = true;
}

/** What was printed since the capture began or the last take. */
export function takePrinted(): string {
  const p = printed();
  const text = p.lines.join('\n');
  p.lines.length = 0;
  return text;
}

export function endCapture(): void {
  printed().lines.length = 0;
  printed().capturing = false;
}
