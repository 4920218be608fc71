// The process's entry point; start-up itself is src/app/main.ts.
import { main } from './app/main.js';

await main();
