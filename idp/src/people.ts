/**
 * The demo people: who can sign in at the development identity provider. Their keys are fixed
 * (the demo, the tests and central's demo data use them); every CPR number here is made up
 * (valid dates, century digit matching the year, the last digit odd for men and even for women)
 * and belongs to nobody.
 */
export interface DemoPerson {
  /** The short name tests and the demo use: `anne`, `peter`, … */
  readonly key: string;
  /** The provider's stable subject, as a MitID broker gives one per person. */
  readonly sub: string;
  /** The MitID uuid claim (Criipto/Idura style). */
  readonly uuid: string;
  readonly name: string;
  readonly email: string;
  /** 10 digits, no dash. Only ever a claim under the `ssn` scope; never logged. */
  readonly cpr: string;
  /** Who this person is in the demo, shown on the sign-in page. */
  readonly about_da: string;
  readonly about_en: string;
}

export interface DemoChild {
  readonly key: 'emma' | 'noah' | 'freja';
  readonly first_name: string;
  readonly last_name: string;
  /** 10 digits, no dash; made up. */
  readonly cpr: string;
}

export const DEMO_PEOPLE: readonly DemoPerson[] = [
  {
    key: 'anne',
    sub: 'demo-anne-hansen',
    uuid: '7b0c4a51-2f3e-4c8e-9a61-0d5e1f3a2b01',
    name: 'Anne Hansen',
    email: 'anne.hansen@example.dk',
    cpr: '1203821564',
    about_da: 'Forælder til Emma og Noah (Søndervang Skole)',
    about_en: 'Guardian of Emma and Noah (Søndervang School)',
  },
  {
    key: 'peter',
    sub: 'demo-peter-jensen',
    uuid: '7b0c4a51-2f3e-4c8e-9a61-0d5e1f3a2b02',
    name: 'Peter Jensen',
    email: 'peter.jensen@example.dk',
    cpr: '0507791237',
    about_da: 'Forælder til Freja',
    about_en: 'Guardian of Freja',
  },
  {
    key: 'karen',
    sub: 'demo-karen-hansen',
    uuid: '7b0c4a51-2f3e-4c8e-9a61-0d5e1f3a2b03',
    name: 'Karen Hansen',
    email: 'karen.hansen@example.dk',
    cpr: '2211552348',
    about_da: 'Mormor til Emma (relation)',
    about_en: 'Emma’s grandmother (relation)',
  },
  {
    key: 'lone',
    sub: 'demo-lone-madsen',
    uuid: '7b0c4a51-2f3e-4c8e-9a61-0d5e1f3a2b04',
    name: 'Lone Madsen',
    email: 'lone.madsen@example.dk',
    cpr: '1409883146',
    about_da: 'Skolekontoret på Søndervang Skole',
    about_en: 'School office staff at Søndervang School',
  },
  {
    key: 'jens',
    sub: 'demo-jens-kommune',
    uuid: '7b0c4a51-2f3e-4c8e-9a61-0d5e1f3a2b05',
    name: 'Jens Kommune',
    email: 'jens.kommune@example.dk',
    cpr: '3001751129',
    about_da: 'Administrator i kommunen',
    about_en: 'Municipality administrator',
  },
  {
    key: 'mette',
    sub: 'demo-mette-okonomi',
    uuid: '7b0c4a51-2f3e-4c8e-9a61-0d5e1f3a2b06',
    name: 'Mette Økonomi',
    email: 'mette.okonomi@example.dk',
    cpr: '1810901024',
    about_da: 'Økonomimedarbejder',
    about_en: 'Finance clerk',
  },
];

/** The demo's children (the same names as the demo site's accounts), with made-up CPR numbers. */
export const DEMO_CHILDREN: readonly DemoChild[] = [
  { key: 'emma', first_name: 'Emma', last_name: 'Jensen', cpr: '0306154128' },
  { key: 'noah', first_name: 'Noah', last_name: 'Hansen', cpr: '1711175133' },
  { key: 'freja', first_name: 'Freja', last_name: 'Nielsen', cpr: '2502164026' },
];
