/** An inclusive range of report days (YYYY-MM-DD); an open end means all data on that side. */
export interface DayRange {
  from?: string;
  to?: string;
}
