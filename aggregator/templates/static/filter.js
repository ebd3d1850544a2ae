// Narrows the stories of the front page and its archive pages to one language, one source, or
// both. The page shows every story without this script, so the controls exist only where it
// runs. The choice is kept in the URL fragment (#language=es&source=libcom-org), so a filtered
// page can be shared and the links to older and newer pages keep it.
(() => {
  'use strict';

  const main = document.querySelector('main');
  if (!main) return;
  // Direct children only: an entry's own content could hold an <article> or a <section>.
  const days = Array.from(main.querySelectorAll(':scope > section.day'));
  const articles = days.flatMap((day) => Array.from(day.querySelectorAll(':scope > article.entry')));
  const pageLanguage = document.documentElement.lang || 'en';

  // Each language in itself ("Español"), as the language pages name it.
  function languageName(code) {
    try {
      const name = new Intl.DisplayNames([code], { type: 'language' }).of(code);
      if (name && name.toLowerCase() !== code) {
        return name.charAt(0).toLocaleUpperCase(code) + name.slice(1);
      }
    } catch (error) {
      // A code the browser does not know, or no Intl.DisplayNames: the code is the name.
    }
    return code;
  }

  function sourceName(article, slug) {
    const source = article.querySelector('.meta .source');
    return (source && source.textContent.trim()) || slug;
  }

  // The values present on this page, [value, name] sorted by name: an option that would leave
  // the page empty is never offered.
  function choices(key, name) {
    const found = new Map();
    for (const article of articles) {
      const value = article.dataset[key];
      if (value && !found.has(value)) found.set(value, name(article, value));
    }
    return Array.from(found).sort((a, b) => a[1].localeCompare(b[1], pageLanguage));
  }

  const filters = [
    {
      key: 'language',
      label: 'Language',
      all: 'All languages',
      options: choices('language', (article, code) => languageName(code)),
      optionsAreLanguages: true,
    },
    {
      key: 'source',
      label: 'Source',
      all: 'All sources',
      options: choices('source', sourceName),
      optionsAreLanguages: false,
    },
  ].filter((filter) => filter.options.length > 1);
  if (filters.length === 0) return;

  const panel = document.createElement('div');
  panel.className = 'story-filter';
  panel.setAttribute('role', 'search');
  panel.setAttribute('aria-label', 'Filter the stories on this page');

  for (const filter of filters) {
    const field = document.createElement('p');
    field.className = 'story-filter-field';
    const label = document.createElement('label');
    label.htmlFor = `story-filter-${filter.key}`;
    label.textContent = filter.label;
    const select = document.createElement('select');
    select.id = label.htmlFor;
    select.append(new Option(filter.all, ''));
    for (const [value, name] of filter.options) {
      const option = new Option(name, value);
      // A screen reader then says "Español" in Spanish.
      if (filter.optionsAreLanguages) option.lang = value;
      select.append(option);
    }
    field.append(label, ' ', select);
    panel.append(field);
    filter.select = select;
  }

  const count = document.createElement('p');
  count.className = 'story-filter-count';
  count.setAttribute('role', 'status');
  panel.append(count);
  days[0].before(panel);

  // Kept relative, as the page wrote them, so a saved copy of the page still works.
  const pageLinks = Array.from(document.querySelectorAll('.pagination a[href]'), (link) => ({
    link,
    href: link.getAttribute('href').split('#')[0],
  }));

  function fragment() {
    const params = new URLSearchParams();
    for (const filter of filters) {
      if (filter.select.value) params.set(filter.key, filter.select.value);
    }
    const text = params.toString();
    return text ? `#${text}` : '';
  }

  function readFragment() {
    const params = new URLSearchParams(window.location.hash.slice(1));
    for (const filter of filters) {
      const wanted = params.get(filter.key);
      const known = filter.options.some(([value]) => value === wanted);
      filter.select.value = known ? wanted : '';
    }
  }

  function apply() {
    let shown = 0;
    for (const article of articles) {
      const match = filters.every(
        (filter) => !filter.select.value || article.dataset[filter.key] === filter.select.value,
      );
      article.hidden = !match;
      if (match) shown += 1;
    }
    for (const day of days) {
      day.hidden = !day.querySelector(':scope > article.entry:not([hidden])');
    }
    const total = articles.length;
    if (shown === total) {
      count.textContent = `All ${total} stories on this page.`;
    } else if (shown === 0) {
      count.textContent = 'No story on this page matches both; choose “All” in one of them.';
    } else {
      count.textContent = `${shown} of the ${total} stories on this page.`;
    }
    const hash = fragment();
    for (const { link, href } of pageLinks) link.setAttribute('href', `${href}${hash}`);
  }

  function changed() {
    const { pathname, search } = window.location;
    window.history.replaceState(window.history.state, '', `${pathname}${search}${fragment()}`);
    apply();
  }

  for (const filter of filters) filter.select.addEventListener('change', changed);
  window.addEventListener('hashchange', () => {
    readFragment();
    apply();
  });
  readFragment();
  apply();
})();
