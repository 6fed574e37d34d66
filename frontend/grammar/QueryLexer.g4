// Lexer for polc questions: `can A reach B:port/proto [METHOD /path]?`, `who can reach B`,
// `what can A reach`, batch probes `A -> B:port/proto [METHOD /path]`, and the assertions of
// `polc lint --assert` (`A must not reach B`, `only A can reach B`, ...). The assertion keywords
// are also names (QueryParser.g4 `name`), so no workload name becomes unusable.
// Modes: label selectors `{...}` and the HTTP request after a method have their own
// tokens (a path may contain any character but blanks).
lexer grammar QueryLexer;

@lexer::members {
  /// An HTTP method is a word followed by blanks and a path (`GET /x`, `get /x`).
  bool followed_by_path() {
    size_t i = 1;
    while (_input->LA(i) == ' ' || _input->LA(i) == '\t') ++i;
    return i > 1 && _input->LA(i) == '/';
  }
}

// HTTP methods come first: `get /x` is a request even though `get` could be a name.
METHOD  : [A-Za-z]+ {followed_by_path()}? -> pushMode(HTTP) ;
CAN     : [cC][aA][nN] ;
REACH   : [rR][eE][aA][cC][hH] ;
WHO     : [wW][hH][oO] ;
WHAT    : [wW][hH][aA][tT] ;
WORLD   : [wW][oO][rR][lL][dD] ;
ANY     : [aA][nN][yY] ;
PROTO   : [tT][cC][pP] | [uU][dD][pP] | [sS][cC][tT][pP] | [iI][cC][mM][pP] ;
SVC     : [sS][vV][cC] ':' ;
NODE    : [nN][oO][dD][eE] ':' ;
ARROW   : '->' ;
// Assertions (docs/lint.md). Longest match first: `cannot` is one word, `canary` a name.
MUST      : [mM][uU][sS][tT] ;
CANNOT    : [cC][aA][nN][nN][oO][tT] ;
NOT       : [nN][oO][tT] ;
ONLY      : [oO][nN][lL][yY] ;
NO        : [nN][oO] ;
POD       : [pP][oO][dD] [sS]? ;
KW_IN     : [iI][nN] ;
NAMESPACE : [nN][aA][mM][eE][sS][pP][aA][cC][eE] ;
IS        : [iI][sS] ;
REACHABLE : [rR][eE][aA][cC][hH][aA][bB][lL][eE] ;
FROM      : [fF][rR][oO][mM] ;
CIDR    : IPV4 '/' DIGITS ;
IP      : IPV4 ;
NUMBER  : DIGITS ;
NAME    : ALNUM ([a-zA-Z0-9._-]* ALNUM)? ;
COLON   : ':' ;
SLASH   : '/' ;
QMARK   : '?' ;
LBRACE  : '{' -> pushMode(SELECTOR) ;
WS      : [ \t\r\n]+ -> skip ;
ERROR   : . ;

fragment IPV4   : DIGITS '.' DIGITS '.' DIGITS '.' DIGITS ;
fragment DIGITS : [0-9]+ ;
fragment ALNUM  : [a-zA-Z0-9] ;

mode SELECTOR;
SEL_WS    : [ \t\r\n]+ -> skip ;
RBRACE    : '}' -> popMode ;
NOTIN     : [nN][oO][tT][iI][nN] ;
IN        : [iI][nN] ;
NEQ       : '!=' ;
EQ        : '==' | '=' ;
BANG      : '!' ;
COMMA     : ',' ;
LPAREN    : '(' ;
RPAREN    : ')' ;
SEL_SLASH : '/' ;
LABEL     : [a-zA-Z0-9] ([a-zA-Z0-9._-]* [a-zA-Z0-9])? ;
SEL_ERROR : . ;

mode HTTP;
HTTP_WS    : [ \t\r\n]+ -> skip ;
PATH       : '/' ~[ \t\r\n]* ;
HTTP_QMARK : '?' -> type(QMARK) ;
HTTP_ERROR : . ;
