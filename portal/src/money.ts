/**
 * Money as the portal shows it: integer øre in, Danish kroner out (`1.234,50 kr.`) in both
 * languages — the currency is Danish, and a statement reads the same whoever prints it.
 */
const kroner = new Intl.NumberFormat('da-DK', { style: 'currency', currency: 'DKK' });

export function formatOre(ore: number): string {
  if (!Number.isSafeInteger(ore)) throw new Error(`formatOre: ${ore} is not a whole number of øre`);
  // Øre are exact integers; dividing by 100 gives a number Intl rounds correctly to 2 decimals.
  return kroner.format(ore / 100);
}
