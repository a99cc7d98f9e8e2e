// validate.js - checks on what a person types at intake, as they type: a
// mainland resident ID number (18 characters, the GB 11643 check digit) and
// a phone number (mobile or landline). The service checks again; these only
// catch typing mistakes early, with a message at the field.

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = '10X98765432';

// '' when good (or empty: optional), else what is wrong.
export function idNumberError(value) {
  const v = (value || '').trim().toUpperCase();
  if (!v) return '';
  if (v.length !== 18) return `身份证号应为 18 位（现为 ${v.length} 位）`;
  if (!/^\d{17}[\dX]$/.test(v)) return '身份证号前 17 位应为数字，最后一位为数字或 X';
  const month = +v.slice(10, 12), day = +v.slice(12, 14);
  if (month < 1 || month > 12 || day < 1 || day > 31) return '身份证号中的出生日期不正确';
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(v[i]) * ID_WEIGHTS[i];
  if (ID_CHECK[sum % 11] !== v[17]) return '身份证号校验位不正确，请核对';
  return '';
}

export function phoneError(value) {
  const v = (value || '').trim().replace(/[\s-]/g, '');
  if (!v) return '';
  if (/^1[3-9]\d{9}$/.test(v)) return '';
  if (/^0\d{9,11}$/.test(v)) return '';
  if (/^\d{7,8}$/.test(v)) return '';
  return '电话号码格式不正确（手机 11 位，或带区号的座机）';
}
