// dashboard.js - the coordinators' dashboard (issue 16): what a coordinator
// of the subdistrict opens in the morning. Every view is a URL:
//   #/overview            总览: open cases by state and holding unit, 逾期,
//                         即将到期 (48 h), today's offers, offers waiting longest
//   #/cases               案件: any case by number, the open cases listed
//   #/cases/:id           one case, read-only, with 撤回流转 / 重新调处 where
//                         the state machine lets a coordinator take them
//   #/cases/:id/access    who read the case file and when (the access log)
//   #/figures?year=2026   数据: the year's figures as charts with tables, the
//                         community scorecard and the report text
//   #/health              健康: the router's health, certificates, queues
// Everything comes from the coordinators' site of the gateway (Router,
// RouterAdmin, Health/Check: web/methods.c), so what this page shows is
// what mediactl shows from the same router.

import { el } from '../common/ui.js';
import * as router from '../common/router.js';
import { overviewView } from './overview.js';
import { casesView, caseView, accessView } from './case.js';
import { figuresView } from './figures.js';
import { healthView } from './health.js';

export async function init(session) {
  if (!document.getElementById('dashboard-css')) {
    document.head.append(el('link', { rel: 'stylesheet', href: '/dashboard/dashboard.css', id: 'dashboard-css' }));
  }
  router.route('/overview', overviewView);
  router.route('/cases', casesView);
  router.route('/cases/:id', (main, params) => caseView(main, params, session));
  router.route('/cases/:id/access', accessView);
  router.route('/figures', figuresView);
  router.route('/health', healthView);
  return {
    nav: [
      { path: '/overview', label: '总览' },
      { path: '/cases', label: '案件' },
      { path: '/figures', label: '数据' },
      { path: '/health', label: '健康' },
    ],
    home: '/overview',
  };
}
