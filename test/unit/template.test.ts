import { expect } from 'chai';
import { BusgateError } from '../../core/errors.js';
import { isDefaultSafeToken, isTemplate, parseTemplate, renderTemplate, type Template } from '../../core/routes/template.js';

const compile = (source: string): Template => {
  const template = parseTemplate(source);
  if (!isTemplate(template)) throw new Error(template.problem);
  return template;
};

describe('templates', () => {
  const inputs = { params: { region: 'eu', id: '42' }, headers: { 'x-customer': 'c-7' } };

  it('renders path parameters and headers', () => {
    expect(renderTemplate(compile('orders.{region}.{header.X-Customer}'), inputs, isDefaultSafeToken, 'destination')).to.equal('orders.eu.c-7');
    expect(compile('static.subject').isStatic).to.equal(true);
  });

  it('rejects malformed templates with a reason', () => {
    for (const bad of ['a.{', 'a.}', '{}', '{a b}', '{header.}', '']) {
      expect(isTemplate(parseTemplate(bad)), bad).to.equal(false);
    }
  });

  it('refuses values that are not one safe token, and missing values', () => {
    const template = compile('orders.{region}');
    for (const region of ['a.b', '*', '>', 'a b', '$SYS', 'a#b', 'x'.repeat(129), 'é']) {
      try {
        renderTemplate(template, { params: { region }, headers: {} }, isDefaultSafeToken, 'destination');
        expect.fail(`accepted ${region}`);
      } catch (error) {
        expect((error as BusgateError).code).to.equal('invalid_token');
      }
    }
    try {
      renderTemplate(compile('{header.x-missing}'), inputs, isDefaultSafeToken, 'key');
      expect.fail('accepted a missing header');
    } catch (error) {
      expect((error as BusgateError).code).to.equal('missing_value');
    }
  });
});
