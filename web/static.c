/*
 * static.c - the static assets (web/static/app.css, web/static/live.js) and the
 * OpenAPI description (web/openapi.json) embedded into the
 * binary at build time with the assembler's .incbin, so a deployed jido-web needs no
 * asset directory. The paths are relative to the top of the tree, where make runs.
 * (The object does not track the asset files: after editing one, touch this file.)
 */
__asm__(
    "\t.section .rodata\n"
    "\t.global web_static_css\n"
    "\t.type web_static_css, @object\n"
    "web_static_css:\n"
    "\t.incbin \"web/static/app.css\"\n"
    "web_static_css_end:\n"
    "\t.byte 0\n"
    "\t.global web_static_css_len\n"
    "\t.type web_static_css_len, @object\n"
    "\t.balign 4\n"
    "web_static_css_len:\n"
    "\t.int web_static_css_end - web_static_css\n"
    "\t.global web_static_js\n"
    "\t.type web_static_js, @object\n"
    "web_static_js:\n"
    "\t.incbin \"web/static/live.js\"\n"
    "web_static_js_end:\n"
    "\t.byte 0\n"
    "\t.global web_static_js_len\n"
    "\t.type web_static_js_len, @object\n"
    "\t.balign 4\n"
    "web_static_js_len:\n"
    "\t.int web_static_js_end - web_static_js\n"
    "\t.global web_static_openapi\n"
    "\t.type web_static_openapi, @object\n"
    "web_static_openapi:\n"
    "\t.incbin \"web/openapi.json\"\n"
    "web_static_openapi_end:\n"
    "\t.byte 0\n"
    "\t.global web_static_openapi_len\n"
    "\t.type web_static_openapi_len, @object\n"
    "\t.balign 4\n"
    "web_static_openapi_len:\n"
    "\t.int web_static_openapi_end - web_static_openapi\n"
    "\t.section .note.GNU-stack,\"\",@progbits\n"
    "\t.text\n");
