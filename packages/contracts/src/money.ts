/**
 * Decimal money without floats: amounts as strings, arithmetic in BigInt micro-units (6 places,
 * the precision of our numeric(20, 6) columns), rounding to the currency's minor unit half-up.
 */
const SCALE = 6;
const FACTOR = 10n ** BigInt(SCALE);

// ISO 4217 minor units for the currencies that are not 2.
const MINOR_UNITS: Record<string, number> = {
  JPY: 0,
  KRW: 0,
  VND: 0,
  CLP: 0,
  ISK: 0,
  BHD: 3,
  KWD: 3,
  OMR: 3,
  JOD: 3,
  TND: 3,
  BIF: 0,
  DJF: 0,
  GNF: 0,
  KMF: 0,
  PYG: 0,
  RWF: 0,
  UGX: 0,
  UYI: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
  IQD: 3,
  LYD: 3,
};

export function minorUnits(currency: string): number {
  return MINOR_UNITS[currency] ?? 2;
}

export function toMicros(amount: string): bigint {
  const match = /^(-)?(\d+)(?:\.(\d{1,6}))?$/.exec(amount.trim());
  if (!match) throw new RangeError(`not a decimal amount: ${amount}`);
  const [, sign, whole, frac = ""] = match;
  const micros = BigInt(whole as string) * FACTOR + BigInt(frac.padEnd(SCALE, "0"));
  return sign ? -micros : micros;
}

export function fromMicros(micros: bigint, places = SCALE): string {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const whole = abs / FACTOR;
  const frac = (abs % FACTOR).toString().padStart(SCALE, "0").slice(0, places);
  return `${negative ? "-" : ""}${whole}${places > 0 ? `.${frac}` : ""}`;
}

/** Rounds half away from zero to the currency's minor unit and formats with exactly that many places. */
export function roundToCurrency(amount: string, currency: string): string {
  const places = minorUnits(currency);
  const step = 10n ** BigInt(SCALE - places);
  const micros = toMicros(amount);
  const abs = micros < 0n ? -micros : micros;
  const rounded = ((abs + step / 2n) / step) * step;
  return fromMicros(micros < 0n ? -rounded : rounded, places);
}

export function negate(amount: string): string {
  return fromMicros(-toMicros(amount));
}
