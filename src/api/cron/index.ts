export { nextCronTime, parseCronSchedule, type CronSchedule } from './schedule.ts';
