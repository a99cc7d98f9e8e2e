/*
 * commands.c - the one list of mediactl's commands: name, how it runs, what
 * it talks to, who it is for, its summary and its usage. `mediactl --help`,
 * `mediactl <command> --help`, usage errors and dispatch all read this
 * table, so what is listed is what runs (after Redis's command table).
 *
 * How each command runs is its ops (ctl.h): its options, how it builds its
 * request and how it prints the reply. The step commands share one
 * (ctl_step_ops); their entries say which action they take and which
 * options they take (step_opts) and need (step_required); --reason is
 * needed when the action's definition (core/actions.h) says the action
 * needs a reason.
 */
#include "services/coordinator/ctl.h"

#define CASE_ARG                                                                                  \
  "CASE is a case id (BH-2026-000123, any case), this year's number (123), YEAR-NUMBER\n"      \
  "(2026-123), UNIT:REF, or the unit's own reference for it.\n"
#define PERSON_OPT "  --person NAME     who at the unit takes the step (kept in the case file)\n"
#define TIME_HELP                                                                                 \
  "TIME is now, YYYY-MM-DD or \"YYYY-MM-DD HH:MM\", at the subdistrict's UTC offset.\n"

const ctl_command ctl_commands[] = {
    /* ---- operators: through their unit's Desk ---- */
    {
        .name = "intake",
        .ops = &ctl_intake_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .unit_why = "a case is taken in at a unit",
        .summary = "take a new case in at the unit (受理)",
        .usage =
            "Usage: mediactl --unit UNIT intake --kind KIND --community COMMUNITY --source SOURCE\n"
            "                (--party ROLE:NAME[:ID_NUMBER[:PHONE]] | --party-file FILE)...\n"
            "                [options]\n"
            "\n"
            "Takes a new case in at UNIT. The unit's policy may act at once (the police\n"
            "studio refers family disputes to the marriage studio; --refer-to overrides it).\n"
            "\n"
            "  --kind KIND          divorce, custody, elder_support, inheritance, relationship,\n"
            "                       family_trivia, neighbour, labour, other (or 离婚, 抚养, ...)\n"
            "  --community C        the parties' community: an id, its name or alias (王隘社区, 王隘)\n"
            "  --grid GRID          the grid (网格) within the community\n"
            "  --party P            repeat for each party: role:name[:id_number[:phone]],\n"
            "                       role applicant, respondent or other (申请人, 被申请人, 其他当事人).\n"
            "                       Anything on the command line is visible to other users\n"
            "                       (ps) and kept in shell history: for real ID numbers and\n"
            "                       phones use --party-file\n"
            "  --party-file FILE    the parties from FILE, one a line in the format of --party\n"
            "                       (blank lines and lines starting with # are skipped);\n"
            "                       - reads them from standard input\n"
            "  --source SOURCE      police_call, walk_in, letter_or_call, referral, consultation\n"
            "                       (110报警, 现场接访, 网电信件, 转介, 法律咨询)\n"
            "  --difficulty D       ordinary (default), difficult, complex (一般, 疑难, 复杂)\n"
            "  --money-yuan N       money involved (涉及金额), e.g. 86000 or 86000.50\n"
            "  --summary TEXT       what happened\n"
            "  --petition ROLE      a backlog petition case (信访积案): led or assisted (主办, 协办)\n"
            "  --needs-lawyer       the unit judges that a lawyer is needed\n"
            "  --workers N          labour disputes: how many workers are involved\n"
            "  --refer-to UNIT      refer it at once to this unit instead of the policy's choice\n"
            "  --reason TEXT        why, with --refer-to\n"
            "  --ref REF            the unit's own reference (the service makes one if not given)\n"
            "  --person NAME        the operator taking it in\n",
    },
    {
        .name = "accept",
        .ops = &ctl_step_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "accept a case offered to the unit (接收)",
        .usage = "Usage: mediactl --unit UNIT accept CASE [--person NAME]\n"
                 "\n"
                 "Accepts a case offered to UNIT; UNIT becomes its holder. Accepting runs the\n"
                 "unit's policy (the marriage studio assigns its team).\n" CASE_ARG
                 "\n" PERSON_OPT,
        .action = MV_ACTION(ACCEPT),
        .step_opts = CTL_SO_PERSON,
    },
    {
        .name = "refuse",
        .ops = &ctl_step_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "refuse a case offered to the unit, with the reason (退回)",
        .usage = "Usage: mediactl --unit UNIT refuse CASE --reason TEXT [--person NAME]\n"
                 "\n"
                 "Refuses a case offered to UNIT; it goes back to its sender with the reason.\n" CASE_ARG
                 "\n"
                 "  --reason TEXT     why (required)\n" PERSON_OPT,
        .action = MV_ACTION(REFUSE),
        .step_opts = CTL_SO_REASON | CTL_SO_PERSON,
    },
    {
        .name = "transfer",
        .ops = &ctl_step_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "offer a case the unit holds to another unit (流转)",
        .usage = "Usage: mediactl --unit UNIT transfer CASE [--to UNIT] --reason TEXT [--person NAME]\n"
                 "\n"
                 "Offers a case UNIT holds to another unit, which accepts or refuses it.\n"
                 "Without --to, the unit's policy chooses the receiving unit.\n" CASE_ARG
                 "\n"
                 "  --to UNIT         the receiving unit: an id, its name or alias (宋大姐)\n"
                 "  --reason TEXT     why (required)\n" PERSON_OPT,
        .action = MV_ACTION(TRANSFER),
        .step_opts = CTL_SO_TO | CTL_SO_REASON | CTL_SO_PERSON,
    },
    {
        .name = "recall",
        .ops = &ctl_step_ops,
        .target = CTL_EITHER,
        .group = CTL_FOR_OPERATORS,
        .summary = "take back an unanswered offer (撤回流转); coordinators too",
        .usage = "Usage: mediactl [--unit UNIT] recall CASE --reason TEXT [--person NAME]\n"
                 "\n"
                 "Takes back an offer not yet accepted or refused. With --unit, as the sending\n"
                 "unit through its service; without, as the coordinator through the router.\n" CASE_ARG
                 "\n"
                 "  --reason TEXT     why (required)\n" PERSON_OPT,
        .action = MV_ACTION(RECALL),
        .step_opts = CTL_SO_REASON | CTL_SO_PERSON,
    },
    {
        .name = "start",
        .ops = &ctl_step_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "begin mediation of a case (开始调处)",
        .usage = "Usage: mediactl --unit UNIT start CASE [--person NAME]\n"
                 "\n"
                 "Begins mediation of a case UNIT holds.\n" CASE_ARG "\n" PERSON_OPT,
        .action = MV_ACTION(START_MEDIATION),
        .step_opts = CTL_SO_PERSON,
    },
    {
        .name = "assign",
        .ops = &ctl_step_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "put a team member on a case (指派)",
        .usage = "Usage: mediactl --unit UNIT assign CASE --role ROLE [--person NAME]\n"
                 "\n"
                 "Puts a member of the unit's team on the case in a role. Without --person,\n"
                 "the unit's policy chooses the member with the fewest cases.\n" CASE_ARG
                 "\n"
                 "  --role ROLE       mediator, counsellor or lawyer (人民调解员, 心理咨询师, 专业律师)\n"
                 "  --person NAME     the team member\n",
        .action = MV_ACTION(ASSIGN),
        .step_opts = CTL_SO_ROLE | CTL_SO_PERSON,
        .step_required = CTL_SO_ROLE,
    },
    {
        .name = "release",
        .ops = &ctl_step_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "take a team member off a case (解除指派)",
        .usage = "Usage: mediactl --unit UNIT release CASE --role ROLE --person NAME\n"
                 "\n"
                 "Takes a team member off the case (the case file keeps that they were on it).\n" CASE_ARG
                 "\n"
                 "  --role ROLE       mediator, counsellor or lawyer\n"
                 "  --person NAME     the team member (required)\n",
        .action = MV_ACTION(RELEASE),
        .step_opts = CTL_SO_ROLE | CTL_SO_PERSON,
        .step_required = CTL_SO_ROLE | CTL_SO_PERSON,
    },
    {
        .name = "session",
        .ops = &ctl_step_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "record a mediation session (调解记录)",
        .usage = "Usage: mediactl --unit UNIT session CASE --note TEXT [--at TIME] [--person NAME]\n"
                 "\n"
                 "Records a mediation session held on a case in mediation.\n" CASE_ARG TIME_HELP
                 "\n"
                 "  --note TEXT       what was done (required)\n"
                 "  --at TIME         when it was held (default: now)\n" PERSON_OPT,
        .action = MV_ACTION(RECORD_SESSION),
        .step_opts = CTL_SO_NOTE | CTL_SO_AT | CTL_SO_PERSON,
        .step_required = CTL_SO_NOTE,
    },
    {
        .name = "outcome",
        .ops = &ctl_step_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "record what mediation produced (调解结果)",
        .usage =
            "Usage: mediactl --unit UNIT outcome CASE (--agreement [--amount-yuan N] | --no-agreement)\n"
            "                [--resolution in_fact|in_substance] [--summary TEXT]\n"
            "                [--followup-due TIME] [--person NAME]\n"
            "                [--terms TEXT] [--performance-method TEXT] [--performance-due TIME]\n"
            "\n"
            "Records the outcome of mediation; the case moves on to feedback (反馈). An\n"
            "agreement gets its number (（2026）宋调字第12号) from the router.\n" CASE_ARG
                TIME_HELP
            "\n"
            "  --agreement         an agreement was reached (达成协议)\n"
            "  --no-agreement      mediation failed (调解不成)\n"
            "  --amount-yuan N     the amount agreed, e.g. 20000 or 20000.50\n"
            "  --resolution R      petition cases: in_fact or in_substance (事实化解, 实体化解)\n"
            "  --summary TEXT      the agreement in brief\n"
            "  --followup-due TIME when the follow-up visit (回访) is due\n"
            "  --person NAME       who at the unit takes the step (kept in the case file)\n"
            "  --terms TEXT        the agreement's terms, for the 调解协议书 (协议内容)\n"
            "  --performance-method TEXT  how it is to be performed (履行方式)\n"
            "  --performance-due TIME     by when (履行期限)\n",
        .action = MV_ACTION(RECORD_OUTCOME),
        .step_opts = CTL_SO_AGREEMENT | CTL_SO_AMOUNT | CTL_SO_RESOLUTION | CTL_SO_SUMMARY |
                     CTL_SO_FOLLOWUP | CTL_SO_PERSON | CTL_SO_TERMS,
        .step_required = CTL_SO_AGREEMENT,
    },
    {
        .name = "litigate",
        .ops = &ctl_step_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "send a failed mediation to the shared court (转诉讼)",
        .usage = "Usage: mediactl --unit UNIT litigate CASE --reason TEXT [--person NAME]\n"
                 "\n"
                 "Sends the case to the shared court (共享法庭) for litigation.\n" CASE_ARG
                 "\n"
                 "  --reason TEXT     why (required)\n" PERSON_OPT,
        .action = MV_ACTION(SEND_TO_LITIGATION),
        .step_opts = CTL_SO_REASON | CTL_SO_PERSON,
    },
    {
        .name = "court-result",
        .ops = &ctl_step_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "record the court's result (法院结果)",
        .usage = "Usage: mediactl --unit UNIT court-result CASE --result RESULT [--amount-yuan N]\n"
                 "                [--summary TEXT] [--person NAME]\n"
                 "\n"
                 "Records what the shared court decided; the case moves on to feedback.\n" CASE_ARG
                 "\n"
                 "  --result RESULT   judgment, court_mediation, dismissed, suit_withdrawn\n"
                 "                    (判决, 法院调解, 驳回, 撤诉)\n"
                 "  --amount-yuan N   the amount awarded or agreed\n"
                 "  --summary TEXT    the decision in brief\n" PERSON_OPT,
        .action = MV_ACTION(RECORD_COURT_RESULT),
        .step_opts = CTL_SO_RESULT | CTL_SO_AMOUNT | CTL_SO_SUMMARY | CTL_SO_PERSON,
        .step_required = CTL_SO_RESULT,
    },
    {
        .name = "feedback",
        .ops = &ctl_step_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "record the follow-up visit and the parties' satisfaction (回访反馈)",
        .usage = "Usage: mediactl --unit UNIT feedback CASE --satisfaction S [--visited TIME]\n"
                 "                [--note TEXT] [--person NAME]\n"
                 "\n"
                 "Records the follow-up visit (回访) and the parties' satisfaction.\n" CASE_ARG
                     TIME_HELP
                 "\n"
                 "  --satisfaction S  satisfied, basically_satisfied, dissatisfied\n"
                 "                    (满意, 基本满意, 不满意)\n"
                 "  --visited TIME    when the visit took place (default: now)\n"
                 "  --note TEXT       what the parties said\n" PERSON_OPT,
        .action = MV_ACTION(RECORD_FEEDBACK),
        .step_opts = CTL_SO_SATISFACTION | CTL_SO_VISITED | CTL_SO_NOTE | CTL_SO_PERSON,
        .step_required = CTL_SO_SATISFACTION,
    },
    {
        .name = "close",
        .ops = &ctl_step_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "close a case after feedback (结案)",
        .usage = "Usage: mediactl --unit UNIT close CASE [--person NAME]\n"
                 "\n"
                 "Closes a case whose follow-up visit and satisfaction are recorded.\n" CASE_ARG
                 "\n" PERSON_OPT,
        .action = MV_ACTION(CLOSE),
        .step_opts = CTL_SO_PERSON,
    },
    {
        .name = "reopen",
        .ops = &ctl_step_ops,
        .target = CTL_EITHER,
        .group = CTL_FOR_OPERATORS,
        .summary = "reopen a closed case whose agreement was not honoured; coordinators too",
        .usage = "Usage: mediactl [--unit UNIT] reopen CASE --reason TEXT [--person NAME]\n"
                 "\n"
                 "Reopens a closed case for a new round of mediation. With --unit, as the\n"
                 "holding unit through its service; without, as the coordinator.\n" CASE_ARG
                 "\n"
                 "  --reason TEXT     why (required)\n" PERSON_OPT,
        .action = MV_ACTION(REOPEN),
        .step_opts = CTL_SO_REASON | CTL_SO_PERSON,
    },
    {
        .name = "withdraw",
        .ops = &ctl_step_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "record that the parties withdrew (撤回)",
        .usage = "Usage: mediactl --unit UNIT withdraw CASE --reason TEXT [--person NAME]\n"
                 "\n"
                 "Ends the case: the parties withdrew.\n" CASE_ARG
                 "\n"
                 "  --reason TEXT     why (required)\n" PERSON_OPT,
        .action = MV_ACTION(WITHDRAW),
        .step_opts = CTL_SO_REASON | CTL_SO_PERSON,
    },
    {
        .name = "legal-aid",
        .ops = &ctl_step_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "record that legal aid was granted (法律援助)",
        .usage = "Usage: mediactl --unit UNIT legal-aid CASE [--person NAME]\n"
                 "\n"
                 "Records that legal aid was granted for the case.\n" CASE_ARG "\n" PERSON_OPT,
        .action = MV_ACTION(GRANT_LEGAL_AID),
        .step_opts = CTL_SO_PERSON,
    },
    {
        .name = "inbox",
        .ops = &ctl_inbox_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "cases offered to the unit, waiting for accept or refuse",
        .usage = "Usage: mediactl --unit UNIT inbox\n"
                 "\n"
                 "Lists the cases offered to UNIT that it has not yet accepted or refused.\n",
    },
    {
        .name = "cases",
        .ops = &ctl_cases_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "the cases the unit holds",
        .usage = "Usage: mediactl --unit UNIT cases [--state STATE]\n"
                 "\n"
                 "Lists the cases UNIT holds, from its service's local copy (steps not yet\n"
                 "forwarded to the router are shown as such).\n"
                 "\n"
                 "  --state STATE     intake, transfer, mediation, feedback, litigation, closed,\n"
                 "                    withdrawn (受理, 流转, 调处, 反馈, 诉讼, 结案, 撤回)\n",
    },
    {
        .name = "conflicts",
        .ops = &ctl_conflicts_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "steps queued offline that the router refused",
        .usage = "Usage: mediactl --unit UNIT conflicts\n"
                 "\n"
                 "Lists steps taken while the router was unreachable and refused when they\n"
                 "were forwarded, and how many steps still wait to be forwarded.\n",
    },
    {
        .name = "dismiss",
        .ops = &ctl_dismiss_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "clear a conflict once dealt with",
        .usage = "Usage: mediactl --unit UNIT dismiss SEQ\n"
                 "\n"
                 "Clears the conflict numbered SEQ (as `conflicts` shows it).\n",
    },
    {
        .name = "roster",
        .ops = &ctl_roster_ops,
        .target = CTL_DESK,
        .group = CTL_FOR_OPERATORS,
        .summary = "the unit's team and how many cases each holds",
        .usage = "Usage: mediactl --unit UNIT roster\n"
                 "\n"
                 "Lists the unit's mediators, counsellors and lawyers with their active cases.\n",
    },

    /* ---- coordinators: the router ---- */
    {
        .name = "show",
        .ops = &ctl_show_ops,
        .target = CTL_EITHER,
        .group = CTL_FOR_COORDINATORS,
        .summary = "one case: where it is, who holds it, and its case file",
        .usage = "Usage: mediactl [--unit UNIT] show CASE [--timeline] [--person NAME]\n"
                 "\n"
                 "Shows a case: state, holder, parties (ID numbers and phones masked except\n"
                 "for the holding unit), team, outcome, feedback. With --unit, asks that\n"
                 "unit's service (its operators' view).\n"
                 "CASE is a case id (BH-2026-000001, any case), this year's number (1),\n"
                 "YEAR-NUMBER (2026-1) or UNIT:REF (UNIT by id, name or alias: 大石头:PS-0007);\n"
                 "with --unit also the unit's own reference. Anything else is a usage error.\n"
                 "\n"
                 "  --timeline        also every step of the case file: when, who, what, why\n"
                 "  --person NAME     who is reading (kept in the router's access log)\n",
    },
    {
        .name = "list",
        .ops = &ctl_list_ops,
        .target = CTL_ROUTER,
        .group = CTL_FOR_COORDINATORS,
        .summary = "cases by state, holder, community, kind, deadline, date",
        .usage = "Usage: mediactl list [filters] [--limit N] [--cursor C | --all] [--wide | --csv]\n"
                 "\n"
                 "Lists cases a page at a time; filters combine. The order follows the\n"
                 "filters: grouped by state (intake, transfer, mediation, feedback,\n"
                 "litigation, closed, withdrawn) and oldest first within a state with no\n"
                 "filter, --state, --holder or --community; oldest offer first with\n"
                 "--offered-to; earliest deadline first with --overdue; oldest first with\n"
                 "--kind. Under the table: \"page 1 of 7, 137 cases\". When more cases\n"
                 "follow, the cursor for the next page is printed to stderr (and is\n"
                 "next_cursor in --json). Lines fit 100 columns (a Chinese character takes\n"
                 "two): dates without times, no difficulty, and long names cut with \"…\".\n"
                 "\n"
                 "  --state STATE     intake, transfer, mediation, feedback, litigation, closed,\n"
                 "                    withdrawn (or 受理, 流转, ...)\n"
                 "  --holder UNIT     held by this unit (id, name or alias)\n"
                 "  --offered-to UNIT offered to this unit, not yet answered\n"
                 "  --community C     of this community (id, name or alias)\n"
                 "  --kind KIND       divorce, custody, ... (or 离婚, 抚养, ...)\n"
                 "  --difficulty D    ordinary, difficult, complex\n"
                 "  --overdue         only cases past their state's deadline\n"
                 "  --from DATE       taken in on or after DATE (YYYY-MM-DD)\n"
                 "  --to DATE         taken in on or before DATE\n"
                 "  --limit N         cases per page (default: the router's, 50)\n"
                 "  --cursor C        the next page, as the previous page gave it\n"
                 "  --all             every page, from the cursor on, as one list\n"
                 "  --wide            every column whole, however wide the lines\n"
                 "  --csv             CSV for spreadsheets (UTF-8 with BOM, every column);\n"
                 "                    the page line goes to stderr\n",
    },
    {
        .name = "search",
        .ops = &ctl_search_ops,
        .target = CTL_EITHER,
        .group = CTL_FOR_COORDINATORS,
        .summary = "find cases by a party's name, a reference, a mediator, an ID number or phone",
        .usage = "Usage: mediactl [--unit UNIT] search TEXT [--limit N] [--page P] [--all] [--csv]\n"
                 "                                           [--person NAME]\n"
                 "\n"
                 "Finds the cases you may see by a party's name (whole, or any part of up to\n"
                 "8 characters: 林某甲, 某甲, 林), the unit's reference (PS-2026-0007), a\n"
                 "mediator's name, or a whole ID number (18 characters) or phone number\n"
                 "(mobile or landline with area code). ID numbers and phones are matched whole\n"
                 "only; digits that are neither are refused, naming what is wrong. Every\n"
                 "search is kept in the router's access log (who searched, not the text).\n"
                 "With --unit, asks that unit's service, which searches its own copies when\n"
                 "the router is out of reach.\n"
                 "\n"
                 "  --limit N         cases per page (default: the router's, 50)\n"
                 "  --page P          the next page, as the previous page gave it\n"
                 "  --person NAME     who is searching (kept in the router's access log)\n"
                 "  --all             every page, one after the other\n"
                 "  --csv             CSV for spreadsheets (UTF-8 with BOM); the count goes to\n"
                 "                    stderr\n",
    },
    {
        .name = "stuck",
        .ops = &ctl_stuck_ops,
        .target = CTL_ROUTER,
        .unit_filter = true,
        .group = CTL_FOR_COORDINATORS,
        .summary = "cases past their deadline, by state and unit",
        .usage = "Usage: mediactl stuck [--unit UNIT] [--per-group N | --all] [--wide]\n"
                 "\n"
                 "Lists what is overdue, grouped by state and unit (the offered unit for an\n"
                 "unanswered transfer), most overdue first. Lines fit 100 columns (long unit\n"
                 "names cut with \"…\").\n"
                 "\n"
                 "  --unit UNIT       only cases held by or offered to this unit\n"
                 "  --per-group N     cases listed per group (default: the router's, 10)\n"
                 "  --all             as many per group as the router lists at once\n"
                 "                    ([limits] page_size_max)\n"
                 "  --wide            unit names whole, however wide the lines\n",
    },
    {
        .name = "figures",
        .ops = &ctl_figures_ops,
        .target = CTL_ROUTER,
        .unit_filter = true,
        .group = CTL_FOR_COORDINATORS,
        .summary = "the year's counters, by unit, community, kind or month",
        .usage = "Usage: mediactl figures [--year Y] [--by GROUPING] [--from-month M] [--to-month M]\n"
                 "                        [--unit UNIT] [--community C] [--csv]\n"
                 "\n"
                 "Prints the counters the router keeps with every step (figures.proto says\n"
                 "what each counts).\n"
                 "\n"
                 "  --year Y          the year (default: this year)\n"
                 "  --by GROUPING     total (default: every counter), unit, community, kind, month\n"
                 "  --from-month M    first month, 1-12 (default 1)\n"
                 "  --to-month M      last month, 1-12 (default 12)\n"
                 "  --unit UNIT       only steps taken by this unit\n"
                 "  --community C     only cases of this community\n"
                 "  --csv             the table alone, as CSV for spreadsheets (UTF-8 with BOM;\n"
                 "                    money in yuan)\n",
    },
    {
        .name = "report",
        .ops = &ctl_report_ops,
        .target = CTL_ROUTER,
        .group = CTL_FOR_COORDINATORS,
        .summary = "the year's figures as the subdistrict's report states them",
        .usage = "Usage: mediactl report [--year Y] [--from-month M] [--to-month M]\n"
                 "\n"
                 "States the year's figures in the report's words (共调处矛盾纠纷…起，涉及金额…万元，\n"
                 "其中疑难复杂以上纠纷…起), from the router's counters alone, with the community\n"
                 "scorecard: case count (受理), case-file quality (complete files / closed) and\n"
                 "party satisfaction ((satisfied + basically satisfied) / follow-up visits).\n"
                 "\n"
                 "  --year Y          the year (default: this year)\n"
                 "  --from-month M    first month, 1-12 (default 1)\n"
                 "  --to-month M      last month, 1-12 (default 12)\n",
    },
    {
        .name = "backup",
        .ops = &ctl_backup_ops,
        .target = CTL_ROUTER,
        .group = CTL_FOR_COORDINATORS,
        .summary = "a hot, compacted copy of the router's store",
        .usage = "Usage: mediactl backup [--scheduled]\n"
                 "\n"
                 "Has the router copy its store into [router] backup_dir while it goes on\n"
                 "serving, into a directory named by the time (at the subdistrict's UTC\n"
                 "offset, like every time shown) and, unless --scheduled, \"-manual\".\n"
                 "Scheduled and manual backups are kept apart, the newest backups_kept of\n"
                 "each: backups made by hand never push the nightly ones out.\n"
                 "\n"
                 "  --scheduled   made by the nightly timer (mediation-backup.service)\n",
    },
    {
        .name = "verify",
        .ops = &ctl_verify_ops,
        .target = CTL_ROUTER,
        .group = CTL_FOR_COORDINATORS,
        .summary = "check the whole store (exit 1 if anything is wrong)",
        .usage = "Usage: mediactl verify [--max-problems N] [--anchor FILE]\n"
                 "\n"
                 "Has the router check every record, case-file hash chain, signed head, index\n"
                 "and counter of its store. Exits 1 if it found problems.\n"
                 "\n"
                 "  --max-problems N  how many problems to describe (default 100)\n"
                 "  --anchor FILE     also check that no case file changed before the anchor\n"
                 "                    in FILE (its last mediation-anchor/ line: a copy of\n"
                 "                    <backup_dir>/anchors, or a line `backup` or `report`\n"
                 "                    printed)\n",
    },
    /* ---- documents (issue 18): the paper, and checking a print ---- */
    {
        .name = "document",
        .ops = &ctl_document_ops,
        .target = CTL_EITHER,
        .group = CTL_FOR_COORDINATORS,
        .summary = "write a document: agreement, case-file (PDF), ledger (xlsx), report (PDF)",
        .usage =
            "Usage: mediactl [--unit UNIT] document agreement CASE -o FILE [--draft] [--person NAME]\n"
            "       mediactl [--unit UNIT] document case-file CASE -o FILE [--person NAME]\n"
            "       mediactl document ledger -o FILE [--from DATE] [--to DATE]\n"
            "                                [--holder UNIT | --community C]\n"
            "       mediactl document report -o FILE [--year N]\n"
            "\n"
            "Writes the document from what the caller may read (GetCase, or --unit's\n"
            "service): ID numbers and phones are masked except for the holding unit.\n"
            "  agreement   调解协议书 (PDF, A4). Only the holding unit (--unit) may produce\n"
            "              it: it carries the parties' full particulars. Needs the outcome\n"
            "              agreement unless --draft (marked 草稿).\n"
            "  case-file   案卷 (PDF): cover, contents, every step, sessions, outcome, court\n"
            "              result, follow-up; the last page has the hash-chain head and a QR\n"
            "              code of CASE and hash for verify-print.\n"
            "  ledger      台账 (xlsx): one row per case taken in between --from and --to\n"
            "              (YYYY-MM-DD, inclusive), of one holder or community if given.\n"
            "  report      the year's report (PDF): the text of `report`, charts, scorecard.\n"
            "\n"
            "  -o, --output FILE  where to write it\n"
            "  --person NAME      who is reading (kept in the router's access log)\n",
    },
    {
        .name = "verify-print",
        .ops = &ctl_verify_print_ops,
        .target = CTL_EITHER,
        .group = CTL_FOR_COORDINATORS,
        .summary = "check a printed case file's hash against the store",
        .usage = "Usage: mediactl [--unit UNIT] verify-print CASE HASH\n"
                 "\n"
                 "CASE and HASH as printed (and in the QR code) on a case file's last page.\n"
                 "Exits 0 if HASH is the case file's head now; 1 if it is not (saying at\n"
                 "which step it was printed, when it is an earlier head).\n",
    },
    {
        .name = "access-log",
        .ops = &ctl_access_log_ops,
        .target = CTL_ROUTER,
        .group = CTL_FOR_COORDINATORS,
        .summary = "who read which case file, and when",
        .usage = "Usage: mediactl access-log [--case CASE] [--who PRINCIPAL] [--from DATE]\n"
                 "                           [--to DATE] [--limit N]\n"
                 "\n"
                 "Lists the router's access log, oldest first: every read of a case (show)\n"
                 "is recorded with who read it, when, and whether the whole case file was read.\n"
                 "\n"
                 "  --case CASE       only reads of this case\n"
                 "  --who PRINCIPAL   only reads by this unit (id, name or alias) or coordinator\n"
                 "  --from DATE       from this day (YYYY-MM-DD)\n"
                 "  --to DATE         up to and including this day\n"
                 "  --limit N         at most N records (default: the router's page size)\n",
    },
    /* ---- a cluster of routers (issue 19) ---- */
    {
        .name = "cluster",
        .ops = &ctl_cluster_ops,
        .target = CTL_ROUTER,
        .group = CTL_FOR_COORDINATORS,
        .summary = "a cluster of routers: status, add, remove, transfer-leader",
        .usage = "Usage: mediactl cluster status [--node N]\n"
                 "       mediactl cluster add ID\n"
                 "       mediactl cluster remove ID\n"
                 "       mediactl cluster transfer-leader [ID]\n"
                 "\n"
                 "The routers of a cluster ([cluster ID] sections of the configuration).\n"
                 "  status            asks every router for its own view: node, address, state\n"
                 "                    (主节点 leader, 从节点 follower, 候选 candidate), term,\n"
                 "                    last entry applied, last log entry, and the leader it\n"
                 "                    knows; exit 4 if a router did not answer. With --node N\n"
                 "                    only that one. A single router says 单节点\n"
                 "  add ID            makes router ID (listed in the configuration) a voting\n"
                 "                    member once it has caught up\n"
                 "  remove ID         takes router ID out of the cluster\n"
                 "  transfer-leader [ID]\n"
                 "                    hands leadership to router ID (default: the one most up\n"
                 "                    to date) and waits until it has it\n"
                 "Changes go to the leader, wherever it is; one at a time.\n",
    },

    /* ---- web logins: on the gateway's machine ---- */
    {
        .name = "user",
        .ops = &ctl_user_ops,
        .target = CTL_LOCAL,
        .group = CTL_FOR_WEB,
        .summary = "web logins of a site: add, passwd, disable, enable, list",
        .usage =
            "Usage: mediactl --unit UNIT user ACTION [--password-stdin]\n"
            "       mediactl user --coordinators ACTION [--password-stdin]\n"
            "ACTION is add NAME, passwd NAME, disable NAME, enable NAME or list.\n"
            "\n"
            "The persons who may log in to a web site (mediation-web): UNIT's desk, or the\n"
            "coordinators'. Their accounts are kept in the site's [web <site>] data_dir,\n"
            "opened here directly: run it on the gateway's machine, as the gateway's user.\n"
            "\n"
            "  add NAME       an account for NAME: at a unit, a person on its roster\n"
            "                 ([unit] member), with the roster's role; for --coordinators,\n"
            "                 any name, as coordinator\n"
            "  passwd NAME    a new password; also ends a lockout\n"
            "  disable NAME   refuse NAME's logins (enable: allow them again)\n"
            "  list           every account: name, role, state (正常, 已停用, 锁定至 ...), last\n"
            "                 login; never a password or its hash\n"
            "\n"
            "The password (8 to 128 bytes) is asked for twice without echo; it is never an\n"
            "argument. Five wrong passwords in a row lock an account for 15 minutes.\n"
            "\n"
            "  --coordinators     the coordinators' site instead of --unit UNIT's\n"
            "  --password-stdin   read the password as one line from standard input\n",
    },

    /* ---- everyone ---- */
    {
        .name = "health",
        .ops = &ctl_health_ops,
        .target = CTL_EITHER,
        .group = CTL_FOR_EVERYONE,
        .summary = "is the router (or --unit's service) serving? (exit 4 if not)",
        .usage = "Usage: mediactl [--unit UNIT] health\n"
                 "\n"
                 "Asks the router, or with --unit that unit's service, whether it is serving.\n"
                 "Exits 4 if it cannot be reached or is not serving.\n",
    },
    {
        .name = "methods",
        .ops = &ctl_methods_ops,
        .target = CTL_EITHER,
        .group = CTL_FOR_EVERYONE,
        .summary = "the services and methods the router (or --unit's service) offers",
        .usage = "Usage: mediactl [--unit UNIT] methods\n"
                 "\n"
                 "Lists the services and methods the server offers (reflection).\n",
    },
    {
        .name = "help",
        .ops = &ctl_help_ops,
        .target = CTL_LOCAL,
        .group = CTL_FOR_EVERYONE,
        .summary = "this list, or one command's usage",
        .usage = "Usage: mediactl help [COMMAND]\n",
    },
    {.name = NULL},
};
