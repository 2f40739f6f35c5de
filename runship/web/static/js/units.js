/* System metrics' readable names and units, for the keys runship's writer records
 * (runship/writer/system.py) and wandb's (synced or imported runs). A distributed run's keys
 * come as "node/key": the node is named after the label. */

/** @typedef {{label: string, unit: string}} SystemMeta */

/** Keys of the whole machine or process: [label, unit]. @type {Record<string, [string, string]>} */
const FIXED = {
  cpu: ['Process CPU', '%'],
  'system.cpu': ['System CPU', '%'],
  memory: ['System memory', '%'],
  memory_percent: ['System memory', '%'],
  'proc.memory.rssMB': ['Process memory in use', 'MB'],
  'proc.memory.percent': ['Process memory', '%'],
  'proc.memory.availableMB': ['System memory available', 'MB'],
  'proc.cpu.threads': ['Process threads', ''],
  disk: ['Disk used', '%'],
  'disk.in': ['Disk read', 'MB/s'],
  'disk.out': ['Disk written', 'MB/s'],
  'network.recv': ['Network received', 'B/s'],
  'network.sent': ['Network sent', 'B/s'],
  tpu: ['TPU utilization', '%'],
};

/** A GPU's readings (gpu.N.K, gpu.process.N.K): [label, unit]. @type {Record<string, [string, string]>} */
const GPU = {
  gpu: ['utilization', '%'],
  memory: ['memory utilization', '%'],
  memoryAllocated: ['memory allocated', '%'],
  memoryAllocatedBytes: ['memory allocated', 'B'],
  temp: ['temperature', '°C'],
  powerWatts: ['power', 'W'],
  powerPercent: ['power', '%'],
  enforcedPowerLimitWatts: ['power limit', 'W'],
  smClock: ['SM clock', 'MHz'],
  memoryClock: ['memory clock', 'MHz'],
  graphicsClock: ['graphics clock', 'MHz'],
  fanSpeed: ['fan speed', '%'],
  encoderUtilization: ['encoder utilization', '%'],
  correctedMemoryErrors: ['corrected memory errors', ''],
  uncorrectedMemoryErrors: ['uncorrected memory errors', ''],
};

/** A key of no known kind: its unit guessed from its name's ending. @param {string} key @returns {string} */
function guessUnit(key) {
  if (/percent$|Percent$|\.usagePercent$/.test(key)) return '%';
  if (/GB$/.test(key)) return 'GB';
  if (/MB$/.test(key)) return 'MB';
  if (/Watts$/.test(key)) return 'W';
  if (/temp$|Temp$/.test(key)) return '°C';
  return '';
}

/** @param {string} key a key without its node @returns {SystemMeta} */
function metaOf(key) {
  const fixed = FIXED[key];
  if (fixed) return { label: fixed[0], unit: fixed[1] };
  const g = /^gpu\.(process\.)?(\d+)\.(.+)$/.exec(key);
  if (g) {
    const k = GPU[g[3]];
    const who = `GPU ${g[2]}${g[1] ? ' (process)' : ''}`;
    return k ? { label: `${who} ${k[0]}`, unit: k[1] } : { label: `${who} ${g[3]}`, unit: guessUnit(g[3]) };
  }
  const c = /^cpu\.(\d+)\.cpu_percent$/.exec(key);
  if (c) return { label: `CPU ${c[1]}`, unit: '%' };
  const d = /^disk\.(.+)\.usage(Percent|GB)$/.exec(key);
  if (d) return { label: `Disk ${d[1]} used`, unit: d[2] === 'GB' ? 'GB' : '%' };
  return { label: key, unit: guessUnit(key) };
}

/**
 * A system metric's readable name and unit: 'gpu.0.temp' -> {label: 'GPU 0 temperature', unit: '°C'};
 * 'node-1/cpu' -> {label: 'Process CPU · node-1', unit: '%'}; an unknown key keeps its name.
 * @param {string} key
 * @returns {SystemMeta}
 */
export function systemMeta(key) {
  const slash = key.indexOf('/');
  if (slash > 0) {
    const m = metaOf(key.slice(slash + 1));
    return { label: `${m.label} · ${key.slice(0, slash)}`, unit: m.unit };
  }
  return metaOf(key);
}

/** A panel title: the label and its unit, "GPU 0 temperature (°C)". @param {string} key */
export function systemTitle(key) {
  const m = systemMeta(key);
  return m.unit ? `${m.label} (${m.unit})` : m.label;
}
