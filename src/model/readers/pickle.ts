import { WeightsError } from '../../runtime/errors';

/**
 * A restricted unpickler: it builds plain values (null, booleans, numbers, bigints, strings, bytes,
 * arrays for lists and tuples, Maps for dicts) and never runs code. A GLOBAL/STACK_GLOBAL must be
 * on the caller's allowlist and REDUCE applies only allowlisted callables, as JavaScript functions
 * the caller supplies; anything else is a WeightsError naming the opcode or global.
 */

/** A global the pickle named and the allowlist accepted. */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An object REDUCE or BUILD produced for an allowlisted class that carries no data we use (e.g. a dict's `_metadata`). */
export type PickleValue = null | boolean | number | bigint | string | Uint8Array | PickleValue[] | Map<PickleValue, PickleValue> | PickleGlobal | object;

export interface UnpickleOptions {
  /** Allowlisted callables, by qualified name: called for REDUCE with the argument tuple. Other names that appear only as values go in `names`. */
  callables: Record<string, (args: PickleValue[]) => PickleValue>;
  /** Allowlisted globals that are only referred to, never called (storage types). */
  names?: ReadonlySet<string>;
  /** Resolves a persistent id (BINPERSID/PERSID): how torch refers to storages outside the pickle. */
  persistentLoad?: (id: PickleValue) => PickleValue;
}

const MARK = Symbol('mark');
type Slot = PickleValue | typeof MARK;

/** Python's pickle opcodes that a state_dict can use, protocols 0–5. */
const OPCODES: Record<number, string> = {
  0x80: 'PROTO', 0x2e: 'STOP', 0x95: 'FRAME', 0x28: 'MARK', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP',
  0x4e: 'NONE', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x49: 'INT', 0x4a: 'BININT', 0x4b: 'BININT1', 0x4d: 'BININT2',
  0x4c: 'LONG', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x47: 'BINFLOAT', 0x46: 'FLOAT',
  0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8',
  0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES', 0x8e: 'BINBYTES8',
  0x29: 'EMPTY_TUPLE', 0x74: 'TUPLE', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3',
  0x5d: 'EMPTY_LIST', 0x6c: 'LIST', 0x61: 'APPEND', 0x65: 'APPENDS',
  0x7d: 'EMPTY_DICT', 0x64: 'DICT', 0x73: 'SETITEM', 0x75: 'SETITEMS',
  0x67: 'GET', 0x68: 'BINGET', 0x6a: 'LONG_BINGET', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT', 0x94: 'MEMOIZE',
  0x63: 'GLOBAL', 0x93: 'STACK_GLOBAL', 0x52: 'REDUCE', 0x62: 'BUILD', 0x51: 'BINPERSID', 0x50: 'PERSID',
};
/** Opcodes that build arbitrary objects or call constructors: never accepted, by name in the error. */
const FORBIDDEN: Record<number, string> = {
  0x69: 'INST', 0x6f: 'OBJ', 0x81: 'NEWOBJ', 0x92: 'NEWOBJ_EX', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4',
  0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

/**
 * Unpickle `bytes[start…]` up to its STOP; returns the value and the offset after STOP (legacy
 * torch files are several pickles back to back).
 */
export function unpickle(bytes: Uint8Array, file: string, options: UnpickleOptions, start = 0): { value: PickleValue; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let pos = start;
  let opcodeAt = start;
  // The dict keys seen, the last being the one whose value is being built, so an error can name the tensor it was reading.
  const keys: string[] = [];
  const fail: (message: string) => never = (message) => {
    throw new WeightsError(file, `pickle at byte ${opcodeAt}: ${message}`, keys[keys.length - 1]);
  };
  const take = (n: number): number => {
    if (n < 0 || pos + n > bytes.byteLength) fail(`needs ${n} more bytes, the file ends ${bytes.byteLength - pos} bytes later (truncated?)`);
    const at = pos;
    pos += n;
    return at;
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('a text argument runs past the end of the file');
    const text = new TextDecoder('latin1').decode(bytes.subarray(pos, end));
    pos = end + 1;
    return text;
  };
  const text = (n: number): string => {
    const at = take(n);
    try {
      return decoder.decode(bytes.subarray(at, at + n));
    } catch {
      return fail('a string is not valid UTF-8');
    }
  };
  const u32 = (): number => view.getUint32(take(4), true);
  const u64 = (): number => {
    const n = view.getBigUint64(take(8), true);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) fail(`a length of ${n} bytes`);
    return Number(n);
  };
  const littleEndianInt = (at: number, n: number): number | bigint => {
    if (n === 0) return 0;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[at + i]);
    if (bytes[at + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  const stack: Slot[] = [];
  const marks: number[] = [];
  /** Push a string, noting it as the current key when it lands where a dict's key goes (after its MARK, or right on it for SETITEM). */
  const pushString = (s: string): void => {
    stack.push(s);
    const i = stack.length - 1;
    const m = marks[marks.length - 1];
    if (stack[i - 1] instanceof Map || (m !== undefined && m > 0 && stack[m - 1] instanceof Map && (i - m) % 2 === 1)) keys.push(s);
  };
  const memo = new Map<number, PickleValue>();
  const pop = (): PickleValue => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) fail('stack underflow');
    return stack.pop() as PickleValue;
  };
  const top = (): PickleValue => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) fail('stack underflow');
    return stack[stack.length - 1] as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const m = marks.pop();
    if (m === undefined) fail('no MARK to pop to');
    return stack.splice(m!) as PickleValue[];
  };
  const memoGet = (key: number): PickleValue => {
    if (!memo.has(key)) fail(`memo key ${key} was never stored`);
    return memo.get(key)!;
  };
  const setItems = (target: PickleValue, items: PickleValue[]): void => {
    if (!(target instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    if (items.length % 2) fail('SETITEMS with an odd number of values');
    for (let i = 0; i < items.length; i += 2) (target as Map<PickleValue, PickleValue>).set(items[i], items[i + 1]);
  };
  const append = (target: PickleValue, items: PickleValue[]): void => {
    if (!Array.isArray(target)) fail('APPEND(S) on something that is not a list');
    (target as PickleValue[]).push(...items);
  };
  const global = (module: string, name: string): PickleGlobal => {
    const qualified = `${module}.${name}`;
    if (!(qualified in options.callables) && !options.names?.has(qualified)) {
      fail(`global ${qualified} is not allowed: a weights file needs only tensors (this loader never runs code from a file)`);
    }
    return new PickleGlobal(module, name);
  };

  for (;;) {
    opcodeAt = pos;
    const code = bytes[take(1)];
    const name = OPCODES[code];
    if (!name) fail(FORBIDDEN[code] ? `opcode ${FORBIDDEN[code]} is not allowed in a weights file` : `unknown opcode 0x${code.toString(16)}`);
    switch (name) {
      case 'PROTO':
        if (bytes[take(1)] > 5) fail(`pickle protocol ${bytes[pos - 1]} is newer than 5`);
        break;
      case 'FRAME':
        take(8);
        break;
      case 'STOP':
        if (stack.length !== 1 || marks.length) fail(`STOP with ${stack.length} values on the stack`);
        return { value: stack[0] as PickleValue, end: pos };
      case 'MARK':
        marks.push(stack.length);
        stack.push(MARK);
        break;
      case 'POP':
        if (stack[stack.length - 1] === MARK) popMark();
        else pop();
        break;
      case 'POP_MARK':
        popMark();
        break;
      case 'DUP':
        stack.push(top());
        break;
      case 'NONE':
        stack.push(null);
        break;
      case 'NEWTRUE':
      case 'NEWFALSE':
        stack.push(name === 'NEWTRUE');
        break;
      case 'INT': {
        const s = line();
        stack.push(s === '00' ? false : s === '01' ? true : parseInteger(s) ?? fail(`INT ${JSON.stringify(s)}`));
        break;
      }
      case 'LONG':
        stack.push(parseInteger(line().replace(/L$/, '')) ?? fail('LONG is not an integer'));
        break;
      case 'BININT':
        stack.push(view.getInt32(take(4), true));
        break;
      case 'BININT1':
        stack.push(bytes[take(1)]);
        break;
      case 'BININT2':
        stack.push(view.getUint16(take(2), true));
        break;
      case 'LONG1': {
        const n = bytes[take(1)];
        stack.push(littleEndianInt(take(n), n));
        break;
      }
      case 'LONG4': {
        const n = u32();
        if (n > 64) fail(`LONG4 of ${n} bytes`);
        stack.push(littleEndianInt(take(n), n));
        break;
      }
      case 'BINFLOAT':
        stack.push(view.getFloat64(take(8), false));
        break;
      case 'FLOAT':
        stack.push(Number(line()));
        break;
      case 'STRING':
        pushString(line().replace(/^(['"])(.*)\1$/, '$2'));
        break;
      case 'BINSTRING':
        pushString(text(u32()));
        break;
      case 'SHORT_BINSTRING':
      case 'SHORT_BINUNICODE':
        pushString(text(bytes[take(1)]));
        break;
      case 'UNICODE':
        pushString(line());
        break;
      case 'BINUNICODE':
        pushString(text(u32()));
        break;
      case 'BINUNICODE8':
        pushString(text(u64()));
        break;
      case 'BINBYTES':
      case 'SHORT_BINBYTES':
      case 'BINBYTES8': {
        const n = name === 'BINBYTES' ? u32() : name === 'SHORT_BINBYTES' ? bytes[take(1)] : u64();
        const at = take(n);
        stack.push(bytes.subarray(at, at + n));
        break;
      }
      case 'EMPTY_TUPLE':
      case 'EMPTY_LIST':
        stack.push([]);
        break;
      case 'TUPLE':
      case 'LIST':
        stack.push(popMark().slice(1));
        break;
      case 'TUPLE1':
      case 'TUPLE2':
      case 'TUPLE3': {
        const n = code - 0x84;
        const items: PickleValue[] = [];
        for (let i = 0; i < n; i++) items.unshift(pop());
        stack.push(items);
        break;
      }
      case 'APPEND': {
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 'APPENDS': {
        const items = popMark().slice(1);
        append(top(), items);
        break;
      }
      case 'EMPTY_DICT':
        stack.push(new Map());
        break;
      case 'DICT': {
        const d = new Map<PickleValue, PickleValue>();
        setItems(d, popMark().slice(1));
        stack.push(d);
        break;
      }
      case 'SETITEM': {
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 'SETITEMS': {
        const items = popMark().slice(1);
        setItems(top(), items);
        break;
      }
      case 'GET':
        stack.push(memoGet(parseInteger(line()) as number));
        break;
      case 'BINGET':
        stack.push(memoGet(bytes[take(1)]));
        break;
      case 'LONG_BINGET':
        stack.push(memoGet(u32()));
        break;
      case 'PUT':
        memo.set(parseInteger(line()) as number, top());
        break;
      case 'BINPUT':
        memo.set(bytes[take(1)], top());
        break;
      case 'LONG_BINPUT':
        memo.set(u32(), top());
        break;
      case 'MEMOIZE':
        memo.set(memo.size, top());
        break;
      case 'GLOBAL': {
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 'STACK_GLOBAL': {
        const n = pop();
        const m = pop();
        // Its strings name a global, not a key.
        for (const s of [n, m]) if (keys[keys.length - 1] === s) keys.pop();
        if (typeof m !== 'string' || typeof n !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(global(m as string, n as string));
        break;
      }
      case 'REDUCE': {
        const args = pop();
        const callable = pop();
        if (!(callable instanceof PickleGlobal)) fail('REDUCE on something that is not a global');
        const fn = options.callables[(callable as PickleGlobal).qualified];
        if (!fn) fail(`${(callable as PickleGlobal).qualified} may be referred to, not called`);
        if (!Array.isArray(args)) fail(`${(callable as PickleGlobal).qualified} called without an argument tuple`);
        stack.push(fn(args as PickleValue[]));
        break;
      }
      case 'BUILD':
        // State for an object we built (an OrderedDict's _metadata): nothing we use.
        pop();
        top();
        break;
      case 'BINPERSID':
      case 'PERSID': {
        const id = name === 'PERSID' ? line() : pop();
        if (!options.persistentLoad) fail('a persistent id, which this kind of file cannot hold');
        stack.push(options.persistentLoad!(id));
        break;
      }
    }
  }
}

function parseInteger(s: string): number | bigint | undefined {
  if (!/^[-+]?\d+$/.test(s.trim())) return undefined;
  const v = BigInt(s.trim());
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}
