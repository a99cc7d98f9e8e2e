// report.js - the year's report in the subdistrict's words, sentence for
// sentence what `mediactl report` prints (services/coordinator/report.c
// ctl_report_sentences, format.c ctl_fmt_wan / ctl_fmt_percent), built from
// the same two GetFigures replies (by community: total, open and overdue;
// by kind: the labour row). The browser test compares this text with
// `mediactl report --json` on the same router, so the two cannot drift
// apart silently. Integer arithmetic as in C (BigInt: counters are int64).

const B = (v) => BigInt(v || 0);

// fen -> "403.64" (万元, two decimals, rounded half up).
export function fmtWan(fen) {
  const f = B(fen);
  const neg = f < 0n;
  const a = neg ? -f : f;
  const h = (a + 5000n) / 10000n;
  return `${neg ? '-' : ''}${h / 100n}.${String(h % 100n).padStart(2, '0')}`;
}

// num/den as "87.5%" (tenths, rounded; ".0" dropped), "—" without a base.
export function fmtPercent(num, den) {
  const n = B(num);
  const d = B(den);
  if (d <= 0n || n < 0n) return '—';
  const tenths = (n * 2000n / d + 1n) / 2n;
  return tenths % 10n === 0n ? `${tenths / 10n}%` : `${tenths / 10n}.${tenths % 10n}%`;
}

function counters(c) { return c || {}; }

// The scorecard line of one set of counters (ctl_scorecard_of).
export function scorecardOf(c) {
  const t = counters(c);
  return {
    cases: B(t.taken_in), mediated: B(t.mediated), resolved: B(t.resolved), closed: B(t.closed),
    complete_files: B(t.complete_files),
    feedback: B(t.satisfied) + B(t.basically_satisfied) + B(t.dissatisfied),
    satisfied_or_basically: B(t.satisfied) + B(t.basically_satisfied),
  };
}

// in: {subdistrict, year, from_month, to_month, total, labour, open_cases, overdue_cases}
// -> [title, sentence, ...]
export function reportSentences(inp) {
  const t = counters(inp.total);
  const lab = counters(inp.labour);
  let period;
  if (inp.from_month <= 1 && (inp.to_month === 0 || inp.to_month >= 12)) period = `${inp.year}年`;
  else if (inp.from_month === inp.to_month) period = `${inp.year}年${inp.from_month}月`;
  else period = `${inp.year}年${inp.from_month}—${inp.to_month}月`;
  const petitions = B(t.petition_led) + B(t.petition_assisted);
  const petitionsResolved = B(t.resolved_in_fact) + B(t.resolved_in_substance);
  const card = scorecardOf(t);
  const out = [];
  out.push(`${inp.subdistrict || ''}${period}矛盾纠纷调处情况`);
  out.push(`${period}，街、居两级共调处矛盾纠纷${B(t.mediated)}起，涉及金额${fmtWan(t.money_involved_fen)}万元，其中疑难复杂以上纠纷${B(t.difficult_or_complex)}起。`);
  out.push(`调解成功${B(t.resolved)}起，化解率${fmtPercent(t.resolved, t.mediated)}；调解不成转诉讼（共享法庭）${B(t.litigated)}起；法律援助${B(t.legal_aid)}件。`);
  out.push(`受理矛盾纠纷${B(t.taken_in)}起，其中网电信件${B(t.from_letter_or_call)}件、现场接访${B(t.from_walk_in)}起、110报警${B(t.from_police_call)}起、转介${B(t.from_referral)}起、法律咨询转入${B(t.from_consultation)}起。`);
  if (petitions > 0n) {
    out.push(`信访积案${petitions}件（主办${B(t.petition_led)}件、协办${B(t.petition_assisted)}件），其中事实化解${B(t.resolved_in_fact)}件、实体化解${B(t.resolved_in_substance)}件，化解率${fmtPercent(petitionsResolved, petitions)}。`);
  } else {
    out.push('无信访积案。');
  }
  out.push(`调处劳资纠纷${B(lab.mediated)}起，涉及金额${fmtWan(lab.money_involved_fen)}万元、劳动者${B(lab.workers_involved)}人。`);
  out.push(`结案${card.closed}件，其中案卷完整${card.complete_files}件，案卷质量${fmtPercent(card.complete_files, card.closed)}；回访满意${B(t.satisfied)}件、基本满意${B(t.basically_satisfied)}件、不满意${B(t.dissatisfied)}件，当事人满意度${fmtPercent(card.satisfied_or_basically, card.feedback)}。`);
  out.push(`目前在办案件${B(inp.open_cases)}件，其中逾期${B(inp.overdue_cases)}件。`);
  return out;
}

// A scorecard ratio cell as mediactl prints it: "87.5%（7/8）" or "—".
export function ratioCell(num, den) {
  return den > 0n ? `${fmtPercent(num, den)}（${num}/${den}）` : '—';
}
