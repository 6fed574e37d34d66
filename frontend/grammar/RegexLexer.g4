// Lexer for L7 regular expressions (an RE2 / POSIX-ERE subset, matched against the whole value).
lexer grammar RegexLexer;

LPAREN_NC      : '(?:' ;
LPAREN         : '(' ;
RPAREN         : ')' ;
PIPE           : '|' ;
STAR           : '*' ;
PLUS           : '+' ;
QMARK          : '?' ;
QUANT          : '{' [0-9]+ (',' [0-9]*)? '}' ;
DOT            : '.' ;
CARET          : '^' ;
DOLLAR         : '$' ;
CLASS_OPEN_NEG : '[^' -> pushMode(CLASS) ;
CLASS_OPEN     : '[' -> pushMode(CLASS) ;
ESCAPE         : '\\' ( 'x' [0-9a-fA-F] [0-9a-fA-F] | . ) ;
CHAR           : ~[()|*+?.^$[\\] ;

mode CLASS;
POSIX_CLASS    : '[:' [a-z]+ ':]' ;
CLASS_CLOSE    : ']' -> popMode ;
CLASS_ESCAPE   : '\\' ( 'x' [0-9a-fA-F] [0-9a-fA-F] | . ) ;
CLASS_DASH     : '-' ;
CLASS_CHAR     : ~[\]\\-] ;
