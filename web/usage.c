/*
 * usage.c - the usage dashboard on /agents: cost and tokens by day as a bar chart (inline
 * SVG, no script), and tables by project, by model and the costliest runs, from the
 * gateway's gateway.usage.summary. Every value goes through html_printf's escaping.
 */
#include <stdio.h>
#include <string.h>

#include "web.h"

#define USAGE_W 720
#define USAGE_H 160

/* One table of summary rows: the key column (linked to the run's page for runs). */
static void
usage_table(struct evbuffer *b, const json_t *rows, const char *key, const char *title,
    int link_runs)
{
	const json_t *r;
	size_t i;

	html_printf(b, "<h3>%s</h3>", title);
	if (json_array_size(rows) == 0) {
		html_printf(b, "<p class=\"muted\">No usage in this window.</p>");
		return;
	}
	html_printf(b, "<div class=\"scroll\"><table><tr><th>%s</th><th>requests</th>"
	    "<th>input tokens</th><th>output tokens</th><th>cost</th></tr>", key);
	json_array_foreach(rows, i, r) {
		const char *k = json_string_value(json_object_get(r, key));
		html_printf(b, "<tr><td>");
		if (link_runs && k != NULL)
			html_printf(b, "<a href=\"/runs/%U\"><code>%s</code></a>", k, k);
		else
			html_printf(b, "%s", k ? k : "");
		html_printf(b, "</td><td>%lld</td><td>%lld</td><td>%lld</td><td>$%.4f</td></tr>",
		    (long long)json_integer_value(json_object_get(r, "requests")),
		    (long long)json_integer_value(json_object_get(r, "input_tokens")),
		    (long long)json_integer_value(json_object_get(r, "output_tokens")),
		    json_number_value(json_object_get(r, "cost_usd")));
	}
	html_printf(b, "</table></div>");
}

/* Cost per day as bars scaled to the costliest day; each bar has a <title> tooltip. */
static void
usage_chart(struct evbuffer *b, const json_t *days)
{
	double max = 0, total = 0;
	size_t i, n = json_array_size(days);
	const json_t *d;

	json_array_foreach(days, i, d) {
		double c = json_number_value(json_object_get(d, "cost_usd"));
		total += c;
		if (c > max)
			max = c;
	}
	html_printf(b, "<p>Cost in the window: <strong>$%.4f</strong> over %zu day(s) with "
	    "usage.</p>", total, n);
	if (n == 0)
		return;
	int bw = (int)(USAGE_W / (n < 10 ? 10 : n)), x = 0;
	html_printf(b, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" "
	    "aria-label=\"cost per day\" xmlns=\"http://www.w3.org/2000/svg\">", USAGE_W,
	    USAGE_H + 20);
	json_array_foreach(days, i, d) {
		double c = json_number_value(json_object_get(d, "cost_usd"));
		int h = max > 0 ? (int)(c / max * USAGE_H) : 0;
		char tip[160];
		if (h < 1 && c > 0)
			h = 1;
		snprintf(tip, sizeof(tip), "%s: $%.4f, %lld requests, %lld in / %lld out tokens",
		    json_string_value(json_object_get(d, "day")) ?
		    json_string_value(json_object_get(d, "day")) : "",
		    c, (long long)json_integer_value(json_object_get(d, "requests")),
		    (long long)json_integer_value(json_object_get(d, "input_tokens")),
		    (long long)json_integer_value(json_object_get(d, "output_tokens")));
		html_printf(b, "<rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\">"
		    "<title>%s</title></rect>", x + 2, USAGE_H - h, bw - 4, h, tip);
		if (i == 0 || i + 1 == n)
			html_printf(b, "<text class=\"axis\" x=\"%d\" y=\"%d\">%s</text>", x + 2,
			    USAGE_H + 15, json_string_value(json_object_get(d, "day")));
		x += bw;
	}
	html_printf(b, "</svg>");
}

void
usage_render(struct web *w, struct evbuffer *b, int days)
{
	struct jido_reply r;
	const json_t *d;

	html_printf(b, "<h2>Usage and cost, last %d days</h2>", days);
	if (web_call(w, "gateway", "gateway.usage.summary", NULL, json_pack("{s:i}", "days", days),
	    &r) != 0) {
		html_printf(b, "<p class=\"muted\">Not available: jido-gateway does not answer.</p>");
		return;
	}
	if (!r.ok) {
		html_printf(b, "<p class=\"muted\">Not available from jido-gateway (%s).</p>",
		    r.message ? r.message : jido_err_name(r.err));
		jido_reply_free(&r);
		return;
	}
	d = r.data;
	usage_chart(b, json_object_get(d, "by_day"));
	usage_table(b, json_object_get(d, "by_project"), "project", "By project", 0);
	usage_table(b, json_object_get(d, "by_model"), "model", "By model", 0);
	usage_table(b, json_object_get(d, "top_runs"), "run_id", "Costliest runs", 1);
	jido_reply_free(&r);
}
