export { addDays, localTime, type Menu, today as localToday } from './menus.ts';
export type { ChildMenu, Order, Orderer, OrderLine, UncollectedPolicy, WebshopService } from './orders.ts';
