/**
 * Preloaded into the process under measurement by the memory benchmark (`node --import
 * …/memory-probe.js`), never by ockle itself. Every thread writes its own V8 heap figures to
 * `$OCKLE_MEMORY_PROBE.<threadId>.json` once a second: the main thread adds the whole
 * process's view (process.memoryUsage, /proc/self/smaps_rollup and the malloc arenas, which
 * is where the threads' native allocations land).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { isMainThread, threadId } from 'node:worker_threads';

export interface ThreadFigures {
  readonly threadId: number;
  /** Bytes: V8 heap committed and used, per space (only spaces holding anything). */
  readonly heapTotal: number;
  readonly heapUsed: number;
  readonly spaces: Readonly<Record<string, { committed: number; used: number }>>;
  /** Memory V8 holds outside the heap for this isolate (Buffers, ArrayBuffers, WebAssembly memories). */
  readonly external: number;
  /** Zone memory of the parser and compilers, now and at its peak. */
  readonly malloced: number;
  readonly peakMalloced: number;
  /** Main thread only: kB figures of the whole process. */
  readonly process?: { rss: number; anon: number; file: number; mallocArenas: number };
}

/** Resident kB of the anonymous mappings glibc makes for the malloc arenas of threads (64 MB aligned). */
function mallocArenasKb(): number {
  let kb = 0;
  let arena = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-[0-9a-f]+ (\S+) \S+ \S+ (\S+)\s*(\S*)/.exec(line);
    if (head) {
      arena = head[4] === '' && head[3] === '0' && BigInt('0x' + head[1]) % (64n << 20n) === 0n && head[2] === 'rw-p';
      continue;
    }
    const rss = arena && /^Rss:\s+(\d+)/.exec(line);
    if (rss) kb += Number(rss[1]);
  }
  return kb;
}

function figures(): ThreadFigures {
  const h = getHeapStatistics();
  const spaces = Object.fromEntries(getHeapSpaceStatistics().filter((s) => s.space_size > 0).map((s) => [s.space_name, { committed: s.space_size, used: s.space_used_size }]));
  const base = { threadId, heapTotal: h.total_heap_size, heapUsed: h.used_heap_size, spaces, external: h.external_memory, malloced: h.malloced_memory, peakMalloced: h.peak_malloced_memory };
  if (!isMainThread) return base;
  const rollup = readFileSync('/proc/self/smaps_rollup', 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? 0);
  return { ...base, process: { rss: kb('Rss'), anon: kb('Anonymous'), file: kb('Rss') - kb('Anonymous'), mallocArenas: mallocArenasKb() } };
}

const out = process.env.OCKLE_MEMORY_PROBE;
if (out) {
  const write = (): void => writeFileSync(`${out}.${threadId}.json`, JSON.stringify(figures()));
  write();
  setInterval(write, 1000).unref();
}
