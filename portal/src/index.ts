export { type Dictionary, da } from './dictionary/da.ts';
export { en } from './dictionary/en.ts';
export { dictionary, LANG_COOKIE, type Lang, languageOf, localPath } from './language.ts';
export { formatOre } from './money.ts';
export { deviceOf, normalMobile } from './pages/profile.ts';
export { parseKroner } from './pages/settings.ts';
export { danishDate, type Period, periodOf } from './period.ts';
export { HOME, type PageData, type PageRoute, type Pages, type PortalOptions, registerPortal } from './portal.ts';
