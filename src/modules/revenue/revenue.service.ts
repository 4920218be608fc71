// What other rooms read of revenue: the daily trend the dashboard shows, and the first and last day that have
// data (the dashboard's default range, the price of an open-ended series). Other modules import this, never
// revenue.repository.ts.
export { readDataBounds, readRevenueTrend, type DataBounds, type RevenuePointRecord } from './revenue.repository.js';
