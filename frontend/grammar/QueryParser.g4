// Parser for polc questions; see QueryLexer.g4 and docs/query.md.
parser grammar QueryParser;

options { tokenVocab = QueryLexer; }

question  : (canQuery | whoQuery | whatQuery) QMARK? EOF ;
canQuery  : CAN endpoint REACH target http? ;
whoQuery  : WHO CAN REACH target ;
whatQuery : WHAT CAN endpoint REACH ;

probe     : endpoint ARROW target http? EOF ;

target    : endpoint port? protocol? ;
port      : COLON (NUMBER | NAME) ;
protocol  : SLASH PROTO ;
http      : METHOD PATH ;

endpoint  : SVC name (SLASH name)?            # serviceEndpoint
          | NODE name                         # nodeEndpoint
          | selector (SLASH selector)?        # selectorEndpoint
          | name SLASH selector               # nsSelectorEndpoint
          | name (SLASH name)?                # namedEndpoint
          | IP                                # ipEndpoint
          | CIDR                              # cidrEndpoint
          | WORLD                             # worldEndpoint
          | ANY                               # anyEndpoint
          ;
name      : NAME | NUMBER ;

selector    : LBRACE (requirement (COMMA requirement)*)? RBRACE ;
requirement : labelKey (EQ | NEQ) labelValue?          # equalityReq
            | labelKey (IN | NOTIN) LPAREN labelValue (COMMA labelValue)* RPAREN   # setReq
            | BANG labelKey                             # notExistsReq
            | labelKey                                  # existsReq
            ;
labelKey    : labelWord (SEL_SLASH labelWord)? ;
labelWord   : LABEL | IN | NOTIN ;
labelValue  : LABEL | IN | NOTIN ;
