// app.js - the page's entry: finds out who is logged in, shows the login
// page or loads the site's application (a unit's desk or the coordinators'
// dashboard, by the session's kind), and draws the header they share.
//
// A site module (desk/desk.js, dashboard/dashboard.js) exports
//   init(session) -> Promise<{nav: [{path, label, badgeId?}], home: '/path'}>
// and registers its routes with common/router.js in init.

import * as api from './common/api.js';
import * as router from './common/router.js';
import * as events from './common/events.js';
import { el, fill, field, notice, errorText, heading } from './common/ui.js';
import { loadNames, unitName } from './common/labels.js';

const SITE_MODULES = { unit: './desk/desk.js', coordinator: './dashboard/dashboard.js' };

let afterLogin = '';

function showLogin(main, reason) {
  document.getElementById('top').hidden = true;
  const name = el('input', { type: 'text', autocomplete: 'username', autocapitalize: 'off', spellcheck: 'false' });
  const pass = el('input', { type: 'password', autocomplete: 'current-password' });
  const fName = field('姓名', name, { required: true, name: 'name' });
  const fPass = field('密码', pass, { required: true, name: 'password' });
  const msg = el('div', { class: 'form-msg', 'aria-live': 'polite' });
  const submit = el('button', { type: 'submit', class: 'primary' }, '登录');
  const form = el('form', { class: 'login-form', novalidate: true }, fName, fPass, msg, submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    fName.setError(name.value.trim() ? '' : '请输入姓名');
    fPass.setError(pass.value ? '' : '请输入密码');
    if (!name.value.trim() || !pass.value) return;
    submit.disabled = true;
    fill(msg);
    try {
      const s = await api.login(name.value.trim(), pass.value);
      pass.value = '';
      await startSite(s);
    } catch (e) {
      const text = e.status === 401 ? '姓名或密码不正确'
        : e.status === 429 ? `登录失败次数过多，已暂时锁定（${e.message}）`
        : e.status === 403 ? '该账户已停用，请联系管理员' : errorText(e);
      fill(msg, notice(text, 'danger'));
      pass.select();
    } finally {
      submit.disabled = false;
    }
  });
  fill(main, el('section', { class: 'login' },
    heading('登录'),
    el('p', { class: 'muted' }, '矛盾纠纷多元化解 · 案件流转与调处'),
    reason ? notice(reason, 'warn') : null,
    form));
  name.focus();
}

function expired() {
  events.stop();
  afterLogin = router.current();
  showLogin(document.getElementById('main'), '登录已过期，请重新登录');
}

let app = null; // the site module's {nav, home}, once initialised (a second login reuses it)

async function startSite(s) {
  const modPath = SITE_MODULES[s.kind];
  if (!modPath) throw new Error(`unknown site kind ${s.kind}`);
  if (!app) {
    await loadNames();
    let mod;
    try {
      mod = await import(modPath);
    } catch (e) {
      throw new Error(`本站点的页面（${modPath}）未安装或无法加载`);
    }
    app = await mod.init(s);
  } else if (s.kind === 'unit') {
    events.start();
  }
  const top = document.getElementById('top');
  document.getElementById('site-name').textContent = s.kind === 'unit' ? unitName(s.site) : '协调员工作台';
  document.getElementById('who').textContent = s.person;
  fill(document.getElementById('nav'), app.nav.map((n) =>
    el('a', { href: '#' + n.path, dataset: { path: n.path } }, n.label,
      n.badgeId ? el('span', { id: n.badgeId, class: 'count', hidden: true, 'aria-live': 'polite' }) : null)));
  top.hidden = false;
  const target = afterLogin && afterLogin !== '/login' && afterLogin !== '/' ? afterLogin : app.home;
  afterLogin = '';
  router.navigate(target, true);
}

function markNav() {
  const path = router.current();
  for (const a of document.querySelectorAll('#nav a')) {
    const on = path === a.dataset.path || path.startsWith(a.dataset.path + '/');
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

async function boot() {
  api.onSessionExpired(expired);
  document.getElementById('logout').addEventListener('click', async () => {
    events.stop();
    try { await api.logout(); } catch (e) { /* gone already */ }
    location.hash = '#/login';
    location.reload();
  });
  window.addEventListener('hashchange', markNav);
  router.route('/login', (main) => showLogin(main));
  // Before login every address shows the login, and opens after it.
  router.notFound((main, path) => {
    if (!app) { afterLogin = path; showLogin(main); return; }
    fill(main, heading('页面不存在'), el('p', {}, el('a', { href: '#/' }, '返回首页')));
  });
  let s = null;
  try {
    s = await api.session();
  } catch (e) {
    fill(document.getElementById('main'), notice(errorText(e), 'danger'));
    return;
  }
  if (!s) {
    afterLogin = router.current();
    if (location.hash !== '#/login') history.replaceState(null, '', '#/login');
    router.start();
    return;
  }
  afterLogin = router.current(); // a reload or a bookmark opens where it points
  try {
    await startSite(s);
  } catch (e) {
    fill(document.getElementById('main'), notice(errorText(e), 'danger'));
    return;
  }
  router.start();
}

boot();
