// Parser for L7 regular expressions; see RegexLexer.g4.
parser grammar RegexParser;

options { tokenVocab = RegexLexer; }

regex         : alternation EOF ;
alternation   : concatenation (PIPE concatenation)* ;
concatenation : piece* ;
piece         : atom quantifier? ;
quantifier    : (STAR | PLUS | QMARK | QUANT) QMARK? ;
atom          : (LPAREN | LPAREN_NC) alternation RPAREN           # groupAtom
              | (CLASS_OPEN | CLASS_OPEN_NEG) classItem+ CLASS_CLOSE # classAtom
              | DOT                                              # dotAtom
              | CARET                                            # caretAtom
              | DOLLAR                                           # dollarAtom
              | ESCAPE                                           # escapeAtom
              | CHAR                                             # charAtom
              ;
classItem     : classChar (CLASS_DASH classChar)?                # classRange
              | CLASS_DASH                                       # classDash
              | POSIX_CLASS                                      # classPosix
              ;
classChar     : CLASS_CHAR | CLASS_ESCAPE ;
