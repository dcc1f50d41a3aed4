"""index.html of an access archive: the same content as data.json, for a person to read."""

from __future__ import annotations

import functools
from typing import Any

import jinja2


@functools.cache
def _template() -> jinja2.Template:
    # Autoescaped: names, emails and request details are user input, so markup in them must
    # reach the page as text, never as code.
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(INDEX_HTML)


def render_index(document: dict[str, Any], titles: tuple[tuple[str, str], ...]) -> str:
    """index.html of an access archive: the same content as data.json, for a person."""
    return _template().render(doc=document, info=document["information"], sections=titles)


INDEX_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Your data at MiniMaker</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;
text-align:left;vertical-align:top}img{max-width:12rem}</style></head><body>
{%- macro value(key, v) -%}
{%- if key == "file" %}<a href="{{ v }}">{{ v }}</a>
{%- if v.startswith("photos/") %}<br><img src="{{ v }}" alt="photo {{ v }}">{% endif %}
{%- elif v is mapping %}{{ rows([v]) if v else "-" }}
{%- elif v is iterable and v is not string %}
{{- rows(v) if v and v[0] is mapping else v|join(", ") }}
{%- elif v is none %}-{% else %}{{ v }}{% endif -%}
{%- endmacro -%}
{%- macro rows(items) -%}
{%- if not items %}<p>None.</p>{% else %}<table><tr>{% for k in items[0] %}<th>{{ k }}</th>
{%- endfor %}</tr>{% for item in items %}<tr>{% for k, v in item.items() %}
<td>{{ value(k, v) }}</td>{% endfor %}</tr>{% endfor %}</table>{% endif -%}
{%- endmacro %}
<h1>Your data at {{ info.controller.name }}</h1>
<p>A copy of all personal data we hold about you (Art. 15 GDPR), made {{ doc.generated_at }}
for request {{ doc.request_id }}. Programs can read the same in <a href="data.json">data.json</a>.
</p>
{% for name, title in sections -%}
<h2>{{ title }}</h2>{{ rows([doc[name]] if doc[name] is mapping else doc[name]) }}
{% endfor -%}
<h2>Who accessed or changed your data, and when</h2>
<p>From our audit trail: you, our staff by their role, or the part of MiniMaker that acted.</p>
{{ rows(doc.history) }}
<h2>What we do with it, and why</h2>
<h3>Purposes and lawful bases</h3>{{ rows(info.purposes) }}
<h3>Categories of data and retention periods</h3>{{ rows(info.categories) }}
<h3>Recipients</h3><p>{{ info.recipients_note }}</p>{{ rows(info.recipients) if info.recipients }}
<h3>Source of the data</h3><p>{{ info.source }}</p>
<h3>Transfers outside the EU and safeguards</h3><p>{{ info.transfers }}</p>
<h3>Automated decision-making</h3><p>{{ info.automated_decision_making }}</p>
<h3>Your rights</h3><ul>{% for r in info.rights %}<li>{{ r }}</li>{% endfor %}</ul>
<h3>Right to complain to a supervisory authority</h3><p>{{ info.complaint }}</p>
<p>Controller: {{ info.controller.name }}, {{ info.controller.contact }}.
Policy version {{ info.policy_version }}.</p>
</body></html>
"""
