export { formatReport, restoreReportCommand } from './command.ts';
export { type RestoreReport, restoreReport } from './report.ts';
export { restoreRoutes } from './routes.ts';
