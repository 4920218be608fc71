import { Field, Int, ObjectType } from 'type-graphql';
import { DecimalScalar } from '../../graphql/scalars.js';

const PERCENT_DESCRIPTION =
  'difference / previous × 100, rounded half away from zero to 2 decimals (e.g. "12.50" for +12.5 %, "-100.00" when it fell to nothing); null when previous is 0.';

@ObjectType({
  description:
    'An amount of money in the dashboard beside the same amount in the range it is compared with. Exact to the cent.',
})
export class MoneyChange {
  @Field(() => DecimalScalar, { description: "The figure for the dashboard's own range." })
  current!: string;

  @Field(() => DecimalScalar, { description: 'The figure for the range compared with.' })
  previous!: string;

  @Field(() => DecimalScalar, { description: 'current - previous (negative when the figure fell).' })
  difference!: string;

  @Field(() => DecimalScalar, { nullable: true, description: PERCENT_DESCRIPTION })
  percent!: string | null;
}

@ObjectType({ description: 'A count in the dashboard beside the same count in the range it is compared with.' })
export class CountChange {
  @Field(() => Int, { description: "The count for the dashboard's own range." })
  current!: number;

  @Field(() => Int, { description: 'The count for the range compared with.' })
  previous!: number;

  @Field(() => Int, { description: 'current - previous (negative when the count fell).' })
  difference!: number;

  @Field(() => DecimalScalar, { nullable: true, description: PERCENT_DESCRIPTION })
  percent!: string | null;
}

@ObjectType({
  description:
    'A dashboard beside the dashboard of the range it is compared with: that whole dashboard (`previous`) and the changes of its key figures. Both follow every rule of a dashboard (completed-only revenue, report days in REPORT_TIMEZONE).',
})
export class DashboardComparison {}
