// OIDs whose text form we keep as is: int8 (ids, counts), numeric (money), date (report days).
export const KEEP_AS_TEXT = new Set([20, 1700, 1082]);
export const identity = (value: string) => value;
