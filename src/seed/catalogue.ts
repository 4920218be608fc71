// The demo shop: what it sells and who buys from it. Only the seed reads this file; the gateway sees the
// rows the seed wrote. Prices are integer agorot written as `shekels_agorot` (4_999_00 is ₪4,999.00), so
// money never passes through a float.

export interface CatalogueProduct {
  sku: string;
  name: string;
  category: string;
  unitPriceCents: number;
  /** Relative demand of the product's category: accessories sell far more often than printers. */
  demand: number;
}

interface CategoryDefinition {
  name: string;
  skuPrefix: string;
  demand: number;
  products: ReadonlyArray<readonly [name: string, unitPriceCents: number]>;
}

const CATEGORIES: readonly CategoryDefinition[] = [
  {
    name: 'מחשבים ניידים',
    skuPrefix: 'LAP',
    demand: 1.0,
    products: [
      ['מחשב נייד Lenovo ThinkPad E14 Gen 5', 4_999_00],
      ['מחשב נייד Dell Latitude 5440', 5_490_00],
      ['מחשב נייד HP ProBook 450 G10', 4_290_00],
      ['מחשב נייד Apple MacBook Air 13 M3', 5_690_00],
      ['מחשב נייד ASUS ExpertBook B1', 2_990_00],
      ['מחשב נייד Lenovo IdeaPad Slim 3', 2_490_00],
      ['מחשב נייד Dell XPS 13', 7_990_00],
      ['מחשב נייד HP EliteBook 840 G10', 6_890_00],
    ],
  },
  {
    name: 'טלפונים סלולריים',
    skuPrefix: 'PHN',
    demand: 1.1,
    products: [
      ['טלפון סלולרי Samsung Galaxy S24 128GB', 3_290_00],
      ['טלפון סלולרי Samsung Galaxy A55', 1_490_00],
      ['טלפון סלולרי Apple iPhone 15 128GB', 3_690_00],
      ['טלפון סלולרי Apple iPhone 15 Pro 256GB', 5_290_00],
      ['טלפון סלולרי Xiaomi Redmi Note 13', 799_00],
      ['טלפון סלולרי Google Pixel 8', 2_790_00],
      ['טלפון סלולרי מוקשח Samsung Galaxy XCover 7', 1_290_00],
      ['טלפון סלולרי Nokia G42', 690_00],
    ],
  },
  {
    name: 'מסכים',
    skuPrefix: 'MON',
    demand: 1.0,
    products: [
      ['מסך מחשב LG 24MP400 24 אינץ׳', 449_00],
      ['מסך מחשב Samsung S27C390 27 אינץ׳', 890_00],
      ['מסך מחשב Dell P2723D 27 אינץ׳', 1_290_00],
      ['מסך מחשב LG UltraFine 27UP850 4K', 1_990_00],
      ['מסך מחשב קעור Dell U3423WE 34 אינץ׳', 3_490_00],
      ['מסך מחשב AOC 24B2XH 24 אינץ׳', 399_90],
      ['מסך מחשב Philips 243V7QDAB', 429_90],
      ['מסך מחשב BenQ PD2705U לגרפיקה', 1_790_00],
    ],
  },
  {
    name: 'ציוד תקשורת',
    skuPrefix: 'NET',
    demand: 0.8,
    products: [
      ['נתב Cisco ISR 1111-4P', 3_900_00],
      ['מתג TP-Link TL-SG1024D עם 24 פורטים', 329_90],
      ['מתג מנוהל Ubiquiti UniFi USW-24-POE', 2_290_00],
      ['נקודת גישה אלחוטית Ubiquiti U6-Pro', 899_00],
      ['חומת אש Fortinet FortiGate 40F', 2_490_00],
      ['נתב אלחוטי ASUS RT-AX58U', 699_00],
      ['כרטיס רשת Intel X550-T2 10GbE', 1_190_00],
      ['מתג מנוהל Cisco CBS250-24T-4G', 1_450_00],
    ],
  },
  {
    name: 'אחסון',
    skuPrefix: 'STO',
    demand: 1.2,
    products: [
      ['כונן SSD Samsung 990 PRO 1TB', 449_90],
      ['דיסק חיצוני WD Elements 2TB', 299_90],
      ['דיסק קשיח Seagate IronWolf 8TB', 899_00],
      ['שרת אחסון Synology DS923+', 2_390_00],
      ['שרת אחסון QNAP TS-464', 2_190_00],
      ['זיכרון נייד SanDisk Ultra 128GB', 49_90],
      ['כונן SSD Crucial MX500 1TB', 279_90],
      ['כונן SSD חיצוני Samsung T7 1TB', 449_00],
    ],
  },
  {
    name: 'אביזרים',
    skuPrefix: 'ACC',
    demand: 1.6,
    products: [
      ['כבל USB-C ל-USB-C באורך 2 מטר', 89_90],
      ['עכבר אלחוטי Logitech M185', 69_90],
      ['מקלדת Logitech K120', 59_90],
      ['אוזניות Jabra Evolve2 30', 349_00],
      ['מטען USB-C Anker 65W', 199_90],
      ['תחנת עגינה Dell WD19S', 899_00],
      ['כבל HDMI 2.1 באורך 1.5 מטר', 59_90],
      ['תיק למחשב נייד Targus 15.6 אינץ׳', 189_90],
      ['מצלמת רשת Logitech C920', 329_00],
      ['משטח עכבר Logitech Desk Mat', 79_90],
    ],
  },
  {
    name: 'מדפסות',
    skuPrefix: 'PRN',
    demand: 0.7,
    products: [
      ['מדפסת לייזר HP LaserJet Pro M404dn', 1_290_00],
      ['מדפסת משולבת Brother MFC-L2750DW', 1_190_00],
      ['מדפסת הזרקת דיו Epson EcoTank L3250', 799_00],
      ['מדפסת משולבת Canon i-SENSYS MF455dw', 1_590_00],
      ['מדפסת תוויות Zebra ZD421', 2_190_00],
      ['טונר מקורי HP 59A', 449_90],
      ['מחסנית דיו Epson 103 שחור', 39_90],
      ['מדפסת לייזר Xerox B230', 649_00],
    ],
  },
  {
    name: 'טאבלטים',
    skuPrefix: 'TAB',
    demand: 0.6,
    products: [
      ['טאבלט Apple iPad 10.9 64GB', 1_890_00],
      ['טאבלט Samsung Galaxy Tab S9 FE', 1_690_00],
      ['טאבלט Lenovo Tab M10', 749_00],
      ['טאבלט Apple iPad Pro 11 M4', 4_990_00],
      ['טאבלט Microsoft Surface Pro 9', 4_490_00],
      ['טאבלט מוקשח Samsung Galaxy Tab Active5', 2_690_00],
      ['טאבלט Xiaomi Pad 6', 1_290_00],
      ['טאבלט Lenovo Tab P12', 1_590_00],
    ],
  },
];

function flatten(categories: readonly CategoryDefinition[]): CatalogueProduct[] {
  return categories.flatMap((category) =>
    category.products.map(([name, unitPriceCents], index) => ({
      sku: `${category.skuPrefix}-${String(index + 1).padStart(3, '0')}`,
      name,
      category: category.name,
      unitPriceCents,
      demand: category.demand,
    })),
  );
}

/** Every product the demo shop can sell, grouped by category. */
export const CATALOGUE: readonly CatalogueProduct[] = flatten(CATEGORIES);

/**
 * The catalogue taken one category at a time in turn, so that a seed asking for fewer products than the
 * catalogue holds still covers every category (the first 8 products span all 8 categories).
 */
export const CATALOGUE_BY_ROTATION: readonly CatalogueProduct[] = (() => {
  const queues = CATEGORIES.map((category) => CATALOGUE.filter((product) => product.category === category.name));
  const rotation: CatalogueProduct[] = [];
  for (let round = 0; rotation.length < CATALOGUE.length; round++) {
    for (const queue of queues) {
      const product = queue[round];
      if (product) rotation.push(product);
    }
  }
  return rotation;
})();

// Customer names are built as `<prefix><suffix> <field> <legal form>`, e.g. `אלקטרונט מערכות בע״מ`:
// 20 × 16 × 12 × 5 = 19,200 distinct names before the seed starts numbering branches.
export const COMPANY_PREFIXES: readonly string[] = [
  'אלקטרו',
  'טכנו',
  'דיגי',
  'מגה',
  'סייבר',
  'אינפו',
  'קומפיו',
  'אופטי',
  'מיקרו',
  'דאטה',
  'לוגי',
  'טלה',
  'אלפא',
  'גלובל',
  'פרו',
  'סמארט',
  'אינטר',
  'נובה',
  'אורבי',
  'נקסט',
];

export const COMPANY_SUFFIXES: readonly string[] = [
  'טק',
  'נט',
  'קום',
  'לוג',
  'סופט',
  'ליין',
  'פלוס',
  'לינק',
  'סנס',
  'וויז',
  'מדיה',
  'וורקס',
  'גייט',
  'פוינט',
  'ביט',
  'סיס',
];

export const COMPANY_FIELDS: readonly string[] = [
  'מערכות',
  'פתרונות',
  'תקשורת',
  'מחשוב',
  'הנדסה',
  'שירותים',
  'סחר',
  'תעשיות',
  'לוגיסטיקה',
  'יבוא ושיווק',
  'טכנולוגיות',
  'אחזקות',
];

export const LEGAL_FORMS: readonly string[] = ['בע״מ', 'ישראל בע״מ', 'ושות׳ בע״מ', 'קבוצה בע״מ', 'שותפות מוגבלת'];

/** Appended (with the branch number) once every base name is taken, so names stay distinct. */
export const BRANCH_LABEL = 'סניף';

/** Israeli cities, weighted roughly by how much business an electronics distributor does there. */
export const CITIES: ReadonlyArray<readonly [city: string, weight: number]> = [
  ['תל אביב-יפו', 18],
  ['ירושלים', 9],
  ['חיפה', 7],
  ['ראשון לציון', 5],
  ['פתח תקווה', 6],
  ['הרצליה', 6],
  ['רמת גן', 5],
  ['נתניה', 4],
  ['אשדוד', 3],
  ['באר שבע', 4],
  ['חולון', 3],
  ['בני ברק', 2],
  ['רחובות', 3],
  ['כפר סבא', 3],
  ['רעננה', 3],
  ['הוד השרון', 2],
  ['מודיעין-מכבים-רעות', 2],
  ['ראש העין', 2],
  ['אור יהודה', 2],
  ['יקנעם עילית', 2],
  ['קיסריה', 1],
  ['חדרה', 1],
  ['אשקלון', 1],
  ['בת ים', 1],
  ['לוד', 1],
  ['רמלה', 1],
  ['נצרת', 1],
  ['עפולה', 1],
  ['כרמיאל', 1],
  ['טבריה', 1],
  ['קריית שמונה', 1],
  ['אילת', 1],
];

// Addresses are ASCII and unique per customer id; example.co.il keeps them obviously fake.
export const EMAIL_ROLES: readonly string[] = ['purchasing', 'procurement', 'orders', 'it', 'office', 'finance'];
export const EMAIL_DOMAIN = 'example.co.il';

export function customerEmail(role: string, customerId: number): string {
  return `${role}.${customerId}@${EMAIL_DOMAIN}`;
}
