/**
 * Reading Prometheus text exposition in tests two ways: with the reference Python client's
 * parser (an independent implementation, Debian's python3-prometheus-client), and with a strict
 * line check of our own (every sample's family has HELP and TYPE first, names and labels are
 * well formed, no family appears twice).
 */
import { execFileSync } from 'node:child_process';

export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}
export interface PromFamily {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly samples: readonly PromSample[];
}

const SCRIPT = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "help": f.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": (None if math.isnan(s.value) else s.value)} for s in f.samples]})
print(json.dumps(out))
`;

/** Parses with prometheus_client (throws what the parser says when the text is not valid). */
export function parseWithPython(python: string, text: string): PromFamily[] {
  return JSON.parse(execFileSync(python, ['-c', SCRIPT], { input: text, encoding: 'utf8' })) as PromFamily[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)?\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/;

/** Problems of the text, line by line (empty: well formed). */
export function lintExposition(text: string): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  const typed = new Map<string, string>();
  let help: string | null = null;
  let current: string | null = null;
  if (!text.endsWith('\n')) problems.push('the text does not end with a newline');
  text.split('\n').slice(0, -1).forEach((line, i) => {
    const at = `line ${i + 1}`;
    const h = /^# HELP (\S+) (.*)$/.exec(line);
    const t = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (h) {
      if (!NAME.test(h[1]!)) problems.push(`${at}: bad metric name ${h[1]}`);
      if (seen.has(h[1]!)) problems.push(`${at}: family ${h[1]} appears twice`);
      seen.add(h[1]!);
      help = h[1]!;
      return;
    }
    if (t) {
      if (t[1] !== help) problems.push(`${at}: TYPE of ${t[1]} without its HELP just before`);
      typed.set(t[1]!, t[2]!);
      current = t[1]!;
      return;
    }
    const m = SAMPLE.exec(line);
    if (!m) return void problems.push(`${at}: not a sample line: ${line}`);
    const type = current ? typed.get(current) : undefined;
    const base = type === 'histogram' ? m[1]!.replace(/_(bucket|sum|count)$/, '') : m[1]!;
    if (base !== current) problems.push(`${at}: sample ${m[1]} outside its family (current: ${current})`);
  });
  return problems;
}
