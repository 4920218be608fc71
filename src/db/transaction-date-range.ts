// The instants a transaction may have, in UTC: from EARLIEST_TRANSACTION_DATE (included) to
// LATEST_TRANSACTION_DATE (excluded). Every instant in it is a day the API can report in any report zone, and a
// year earlier in a previous-year comparison, as a Date and as a DateTime with a four-digit year. PostgreSQL holds
// every writer to it (sql/migrations/007_transaction_date_range.sql); the feed and the seed check it first, so
// that they can say which row or option is wrong.

export const EARLIEST_TRANSACTION_DATE = '1900-01-01T00:00:00Z';
export const LATEST_TRANSACTION_DATE = '9000-01-01T00:00:00Z';

/** The range as the feed's and the seed's messages state it. */
export const TRANSACTION_DATE_RANGE = `from ${EARLIEST_TRANSACTION_DATE} (included) to ${LATEST_TRANSACTION_DATE} (excluded) in UTC`;
