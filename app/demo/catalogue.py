"""What the demo sample is made of: institutions, their products, kinds of project, places, names
and reasons, and the mix of lifecycle and funnel statuses to reach.

Figures are in 万元 (``WAN``), as Chinese project lists write them; the generator turns them into
the API's decimal strings. The first institution's USCC marks a database that holds the demo.
"""

from dataclasses import dataclass
from typing import Any

# (name, type, registration region, organisation code stem); the first one's USCC marks a demo.
INSTITUTIONS: list[tuple[str, str, str, str]] = [
    ("江南绿色发展银行股份有限公司", "bank", "330000", "7100001"),
    ("岭南农村商业银行股份有限公司", "bank", "440000", "7100002"),
    ("天府气候银行股份有限公司", "bank", "510000", "7100003"),
    ("长江生态银行股份有限公司", "bank", "420000", "7100004"),
    ("华安气候保险股份有限公司", "insurer", "110000", "7100005"),
    ("国绿碳中和产业投资基金（有限合伙）", "fund", "310000", "7100006"),
    ("绿信融资担保有限公司", "guarantee", "320000", "7100007"),
    ("远景绿能融资租赁有限公司", "leasing", "440000", "7100008"),
]

WAN = 10_000  # 万元: the unit Chinese project lists use


@dataclass(frozen=True)
class ProductTemplate:
    institution: int
    name: str
    type: str
    criteria: dict[str, Any]
    rate: tuple[str, str] | None
    quota_wan: int | None
    status: str = "active"


def P(
    institution: int,
    name: str,
    type: str,
    rate: tuple[str, str] | None,
    quota_wan: int | None,
    status: str = "active",
    **criteria: Any,
) -> ProductTemplate:
    """One row of the table below: the institution's index, terms, then its criteria."""
    return ProductTemplate(institution, name, type, criteria, rate, quota_wan, status)


# institution, name, type, indicative rate (%), quota (万元), then the product's own criteria.
# fmt: off
PRODUCTS: list[ProductTemplate] = [
    P(0, "绿色低碳贷", "green_loan", ("3.10", "4.20"), 800_000,
      objectives=["mitigation", "both"], categories=["M1", "M2", "M3"], amount_min=100 * WAN,
      amount_max=50_000 * WAN, tenor_min_months=12, tenor_max_months=180,
      construction_statuses=["approved", "under_construction", "operational"]),
    P(0, "碳排放权质押贷", "carbon_pledge_loan", ("3.30", "4.50"), 200_000,
      region_prefixes=["33", "34", "35", "32"], categories=["M2", "M3", "M5"],
      amount_min=50 * WAN, amount_max=5_000 * WAN, tenor_max_months=60,
      min_emission_reduction_tco2e=1000),
    P(0, "可持续发展挂钩贷款", "sustainability_linked_loan", ("2.95", "3.90"), 300_000,
      categories=["M3", "M5"], amount_min=500 * WAN, amount_max=30_000 * WAN,
      requires_verification=True,
      weights={"climate_benefit": 60, "verification": 20, "readiness": 20}),
    P(3, "转型金融贷款", "transition_loan", ("3.20", "4.35"), 500_000,
      categories=["M3", "M4"], amount_min=1_000 * WAN, amount_max=100_000 * WAN,
      accepts_two_high_transition=True, tenor_min_months=24, tenor_max_months=120),
    P(1, "乡村振兴气候贷", "green_loan", ("3.45", "4.80"), 100_000,
      region_prefixes=["44", "45", "43", "36"], objectives=["adaptation", "both"],
      categories=["A1", "A2", "A3", "M6"], amount_min=30 * WAN, amount_max=3_000 * WAN,
      tenor_min_months=12, tenor_max_months=96),
    P(1, "蓝色碳汇贷", "carbon_pledge_loan", ("3.35", "4.40"), 80_000,
      region_prefixes=["44", "45", "35", "37", "21", "31", "46", "32"], categories=["A4", "M6"],
      amount_min=100 * WAN, amount_max=10_000 * WAN),
    P(1, "绿色建筑贷", "green_loan", ("3.25", "4.10"), None, status="draft",
      region_prefixes=["44"], categories=["M3", "A7"], amount_max=20_000 * WAN,
      construction_statuses=["approved", "under_construction"]),
    P(2, "西部清洁能源贷", "green_loan", ("3.05", "4.00"), 600_000,
      region_prefixes=["51", "50", "61", "62", "15", "14", "52", "53", "63", "64", "65"],
      categories=["M2"], gfc_codes=["4"], amount_min=500 * WAN, amount_max=80_000 * WAN,
      construction_statuses=["approved", "under_construction"],
      weights={"readiness": 40, "climate_benefit": 40, "amount_fit": 20}),
    P(2, "防灾减灾专项贷", "green_loan", ("3.00", "3.95"), 300_000,
      objectives=["adaptation", "both"], categories=["A2", "A6", "A7"], amount_min=100 * WAN,
      amount_max=20_000 * WAN, tenor_max_months=240),
    P(3, "长江大保护绿色贷", "green_loan", ("3.15", "4.15"), 400_000,
      region_prefixes=["42", "43", "34", "36", "50", "51", "32", "31", "53", "52"],
      categories=["A2", "A3", "M3", "M5", "M6"], amount_min=200 * WAN, amount_max=50_000 * WAN),
    P(3, "气候适应型城市建设贷", "green_loan", ("3.10", "4.00"), 500_000,
      objectives=["adaptation", "both"], categories=["A7", "A2", "A6", "A5"],
      amount_min=1_000 * WAN, weights={"readiness": 40, "amount_fit": 20, "category_targeted": 40}),
    P(4, "巨灾指数保险", "climate_insurance", ("0.60", "1.80"), None,
      objectives=["adaptation", "both"], categories=["A1", "A4", "A6"]),
    P(4, "林业碳汇价格保险", "carbon_insurance", ("0.80", "2.00"), 30_000,
      categories=["M6", "A3"], amount_max=5_000 * WAN),
    P(4, "新能源电站综合保险", "carbon_insurance", ("0.30", "1.20"), None,
      categories=["M2.1", "M2.2"], construction_statuses=["under_construction", "operational"]),
    P(5, "碳中和产业基金", "carbon_fund", None, 1_000_000,
      objectives=["mitigation", "both"], categories=["M1", "M2", "M4"], amount_min=2_000 * WAN,
      amount_max=200_000 * WAN, min_emission_reduction_tco2e=5000),
    P(5, "CCUS 早期股权投资", "equity", None, 200_000,
      categories=["M4", "M1"], amount_min=500 * WAN, amount_max=50_000 * WAN,
      construction_statuses=["planning", "approved"]),
    P(6, "绿色融资担保", "guarantee", ("0.50", "1.50"), 100_000,
      amount_min=50 * WAN, amount_max=2_000 * WAN, tenor_max_months=60),
    P(6, "农业气候风险担保", "guarantee", ("0.40", "1.00"), 30_000,
      categories=["A1", "M6"], amount_max=1_000 * WAN),
    P(7, "新能源设备融资租赁", "leasing", ("4.20", "5.80"), 300_000,
      categories=["M2", "M3"], amount_min=200 * WAN, amount_max=30_000 * WAN, tenor_min_months=24,
      tenor_max_months=120),
    P(7, "节能环保设备直租", "leasing", ("4.50", "6.20"), 100_000,
      categories=["M3", "M1", "M5"], amount_max=5_000 * WAN, tenor_max_months=72,
      accepts_two_high_transition=False),
]
# fmt: on


@dataclass(frozen=True)
class ProjectTemplate:
    """A kind of project: its name pattern ({county}, {city}, {firm}) and what it looks like."""

    name: str
    categories: tuple[str, ...]
    industries: tuple[str, ...]
    natures: tuple[str, ...]
    owner: str  # "firm", "soe", "government", "public", "collective" or "cooperative"
    owner_suffix: str  # the firm's line of business, or the government body
    median_wan: float  # median total investment, 万元
    summary: str
    tco2e_per_wan: float = 0.0  # annual reduction (or sink) per 万元 invested
    financing: tuple[str, ...] = ("loan",)
    benefit: str | None = None  # adaptation benefit; {n} is the number of people
    fuel: str | None = None  # what a thermal plant (D4411/D4412) burns


def T(
    name: str,
    categories: str,
    industries: str,
    natures: str,
    owner: str,
    owner_suffix: str,
    median_wan: float,
    tco2e_per_wan: float,
    financing: str,
    summary: str,
    benefit: str | None = None,
    fuel: str | None = None,
) -> ProjectTemplate:
    """One row of the table below; lists are written space-separated."""
    return ProjectTemplate(
        name,
        tuple(categories.split()),
        tuple(industries.split()),
        tuple(natures.split()),
        owner,
        owner_suffix,
        median_wan,
        summary,
        tco2e_per_wan,
        tuple(financing.split()),
        benefit,
        fuel,
    )


# name, categories, GB/T 4754 classes, natures, owner, owner's suffix, median 万元, tCO2e per 万元
# a year, financing types, summary, adaptation benefit.

# fmt: off
TEMPLATES: list[ProjectTemplate] = [
    # M1 strategic emerging industries
    T("{firm}动力电池回收利用项目", "M1", "C4210", "new_build expansion",
      "firm", "新材料科技有限公司", 30_000, 0.6, "loan equity fund",
      "退役动力电池梯次利用与再生利用生产线。"),
    T("{firm}储能电池生产线建设项目", "M1", "C3841", "new_build",
      "firm", "储能科技有限公司", 80_000, 0.3, "loan equity",
      "磷酸铁锂储能电芯及系统集成生产线。"),
    T("{county}新能源汽车充换电基础设施项目", "M1", "F5265", "new_build",
      "soe", "充电网络科技有限公司", 8_000, 0.5, "loan leasing",
      "公共充电站、换电站及配套电网接入。"),
    # M2 non-fossil energy
    T("{county}分布式光伏发电项目", "M2.1", "D4416", "new_build",
      "soe", "新能源有限公司", 6_000, 1.6, "loan leasing insurance",
      "工业厂房及公共建筑屋顶分布式光伏，自发自用、余电上网。"),
    T("{county}风电场项目", "M2.2", "D4415", "new_build expansion",
      "soe", "风力发电有限公司", 60_000, 1.3, "loan bond insurance",
      "陆上风电场及升压站、集电线路。"),
    T("{county}生物质热电联产项目", "M2.4", "D4417", "new_build",
      "firm", "生物质能源有限公司", 25_000, 1.0, "loan leasing",
      "农林废弃物直燃发电并向园区供热。"),
    T("{city}新型储能电站项目", "M2.7", "D4419", "new_build",
      "soe", "储能电站有限公司", 30_000, 0.4, "loan leasing fund",
      "电网侧磷酸铁锂储能电站，参与调峰调频。"),
    T("{county}中深层地热供暖项目", "M2.5", "D4430", "new_build expansion",
      "soe", "热力有限公司", 12_000, 1.1, "loan",
      "中深层地热井群替代燃煤锅炉集中供暖。"),
    # M3 energy-saving and carbon-reduction retrofits
    T("{firm}余热回收节能改造", "M3", "C3130 C1713 C2211 C2641", "retrofit",
      "firm", "实业有限公司", 3_000, 2.2, "loan leasing guarantee",
      "窑炉及工艺余热回收发电与供汽。"),
    T("{city}公共建筑节能改造项目", "M3", "E5011", "retrofit",
      "soe", "城市建设投资有限公司", 4_000, 0.8, "loan guarantee",
      "围护结构、空调及照明系统节能改造与能耗监测。"),
    T("{county}集中供热管网节能改造", "M3", "D4430", "retrofit",
      "soe", "热力有限公司", 9_000, 0.9, "loan",
      "老旧供热管网更换与换热站智能化改造。"),
    # 两高 transition projects (M3/M4/M5 at existing plants): allowed, flagged for reviewers
    T("{firm}水泥熟料生产线节能降碳改造", "M3", "C3011", "retrofit",
      "firm", "水泥有限公司", 20_000, 1.5, "loan",
      "高效篦冷机、低氮燃烧及替代燃料改造。"),
    T("{firm}电解铝节能降碳改造", "M3", "C3216", "retrofit",
      "firm", "铝业有限公司", 35_000, 1.2, "loan",
      "电解槽结构优化与余热利用。"),
    # M4 CCUS
    T("{firm}水泥窑烟气碳捕集利用示范项目", "M3 M4", "C3011", "retrofit",
      "firm", "水泥有限公司", 40_000, 0.8, "loan equity fund",
      "水泥窑烟气二氧化碳捕集、提纯并用于食品级与工业级产品。"),
    T("{firm}燃煤电厂烟气二氧化碳捕集利用与封存示范项目", "M4", "D4411 D4412", "retrofit",
      "soe", "发电有限公司", 60_000, 1.0, "loan equity fund",
      "在役燃煤机组烟气燃烧后捕集二氧化碳，压缩输送用于驱油与咸水层封存。", fuel="coal"),
    T("{firm}二氧化碳驱油与封存示范项目", "M4", "B0711", "new_build",
      "soe", "油气开发有限公司", 90_000, 0.5, "equity fund loan",
      "捕集二氧化碳注入油藏驱油并地质封存。"),
    # M5 non-energy greenhouse gases
    T("{firm}硝酸装置氧化亚氮分解减排项目", "M5", "C2611", "retrofit",
      "firm", "化工有限公司", 3_000, 20.0, "loan",
      "硝酸生产线加装二级催化分解装置，削减氧化亚氮工艺排放。"),
    T("{county}生活垃圾填埋气回收利用项目", "M5", "N7820", "new_build",
      "soe", "环境卫生有限公司", 4_000, 4.0, "loan guarantee",
      "填埋气收集、提纯及发电，减少甲烷排放。"),
    T("{county}畜禽粪污资源化利用项目", "M5 A1", "N7723", "new_build",
      "firm", "生态农业有限公司", 2_500, 3.0, "loan guarantee",
      "规模养殖场粪污厌氧发酵产沼气与有机肥。",
      "减少养殖面源污染，有机肥还田提高耕地抗旱能力，惠及{n}人。"),
    T("{city}污水处理厂甲烷回收利用项目", "M5", "D4620", "retrofit",
      "soe", "水务集团有限公司", 6_000, 2.0, "loan",
      "污泥厌氧消化沼气回收与热电联供。"),
    # M6 carbon sinks
    T("{county}国家储备林建设项目", "M6 A3", "A0220 A0231", "new_build",
      "soe", "林业投资发展有限公司", 50_000, 0.25, "loan insurance",
      "集约人工林栽培、现有林改培和中幼林抚育。",
      "提升森林生态系统稳定性和水源涵养能力，惠及{n}人。"),
    T("{county}竹林碳汇项目", "M6", "A0231", "operation",
      "collective", "竹林股份经济合作社", 1_500, 0.6, "loan carbon_pledge insurance",
      "竹林经营碳汇，按方法学开发碳汇量。"),
    T("{county}红树林保护修复项目", "M6 A4", "N7711", "new_build",
      "government", "自然资源局", 3_000, 0.3, "loan carbon_pledge",
      "红树林营造与修复，兼顾海岸防护和蓝碳。",
      "增强海岸带防潮消浪能力，保护沿海{n}人。"),
    # A1 agriculture
    T("{county}高标准农田节水灌溉项目", "A1", "A0513", "new_build",
      "government", "农业农村局", 8_000, 0.0, "loan insurance",
      "高效节水灌溉、田间排灌与农田防护林网。",
      "提高农田抗旱排涝能力，惠及{n}名农户。"),
    T("{county}耐旱作物良种繁育基地", "A1", "A0511", "new_build",
      "cooperative", "良种繁育专业合作社", 2_000, 0.0, "loan guarantee insurance",
      "耐旱、耐高温品种选育与扩繁。",
      "推广抗逆品种，稳定{n}名农户收入。"),
    T("{county}农光互补项目", "M2 A1", "D4416", "new_build",
      "firm", "光伏农业科技有限公司", 15_000, 1.4, "loan leasing",
      "光伏板下种植喜阴作物，板上发电。",
      "遮阴降温减少作物热害，带动{n}名农户增收。"),
    # A2 water resources
    T("{city}海绵城市建设项目", "A2 A7", "E4822 N7810", "new_build",
      "soe", "城市建设投资有限公司", 40_000, 0.0, "loan bond",
      "雨水花园、透水铺装、调蓄池和排水管网提升。",
      "提升城市雨洪调蓄能力，惠及{n}名市民。"),
    T("{county}城乡供水一体化工程", "A2", "D4610", "new_build expansion",
      "soe", "水务有限公司", 20_000, 0.0, "loan bond",
      "水源、水厂及城乡供水管网一体化建设。",
      "保障干旱年份供水安全，覆盖{n}人。"),
    T("{county}再生水利用工程", "A2 M5", "D4620", "new_build",
      "soe", "水务有限公司", 10_000, 0.4, "loan",
      "污水深度处理后回用于工业和市政杂用。",
      "缓解水资源短缺，服务{n}人。"),
    # A3 forestry and ecosystems
    T("{county}山水林田湖草沙一体化保护修复工程", "A3", "E4863 N7711", "new_build",
      "government", "自然资源局", 30_000, 0.0, "loan bond",
      "流域生态修复、矿山复绿与水土流失治理。",
      "恢复生态系统服务功能，受益人口{n}人。"),
    T("{county}湿地公园生态修复项目", "A3 M6", "N7711", "new_build",
      "government", "林业局", 5_000, 0.2, "loan",
      "退化湿地修复、水系连通与生物多样性保护。",
      "增强湿地调蓄与净化能力，惠及{n}人。"),
    # A4 oceans
    T("{county}海堤生态化提升工程", "A4 A6", "E4822", "retrofit",
      "government", "水利局", 25_000, 0.0, "loan bond insurance",
      "海堤加高加固并配套生态护坡与滩涂修复。",
      "将防潮标准提高到五十年一遇，保护{n}人。"),
    T("{county}海洋牧场建设项目", "A4", "A0411", "new_build",
      "firm", "海洋渔业有限公司", 6_000, 0.0, "loan insurance",
      "人工鱼礁、海藻场与智能化养殖平台。",
      "修复近海生态，稳定{n}名渔民生计。"),
    # A5 meteorology
    T("{city}智慧气象监测预警系统建设", "A5", "M7410", "new_build",
      "public", "气象服务中心", 3_000, 0.0, "loan",
      "自动气象站加密、雷达组网与短临预警平台。",
      "灾害性天气预警提前量提高至 30 分钟以上，覆盖{n}人。"),
    T("{county}人工影响天气作业能力建设", "A5 A1", "M7410", "new_build",
      "public", "气象服务中心", 1_200, 0.0, "loan",
      "标准化作业点、火箭作业系统和指挥平台。",
      "减轻冰雹和干旱对农业的损失，惠及{n}名农户。"),
    # A6 disaster prevention
    T("{county}山洪灾害防治工程", "A6", "N7610 E4822", "new_build",
      "government", "水利局", 6_000, 0.0, "loan bond insurance",
      "山洪沟治理、监测预警站点与避险转移设施。",
      "保护山洪威胁区{n}人的生命财产安全。"),
    T("{city}城市内涝治理工程", "A6 A2", "E4822", "new_build expansion",
      "soe", "城市建设投资有限公司", 35_000, 0.0, "loan bond",
      "排涝泵站、行泄通道与易涝点改造。",
      "消除易涝点，惠及{n}名市民。"),
    # A7 adaptive capacity
    T("{city}城市生命线安全监测平台", "A7", "I6532", "new_build",
      "soe", "城市运营有限公司", 5_000, 0.0, "loan guarantee",
      "燃气、供水、桥梁等生命线工程物联网监测。",
      "提升极端天气下城市运行韧性，服务{n}名市民。"),
    T("{city}气候适应型城市基础设施提升项目", "A7 A2", "E4819", "new_build retrofit",
      "soe", "城市建设投资有限公司", 50_000, 0.0, "loan bond",
      "道路、桥梁和排水设施按更高气候荷载标准提升。",
      "基础设施按未来气候情景设防，惠及{n}名市民。"),
]
# fmt: on

# Places outside the pilots, so the library is national (prefecture codes; counties drawn below).
OTHER_PLACES = [
    "320500",
    "320100",
    "330100",
    "330200",
    "360100",
    "520100",
    "530100",
    "460100",
    "650100",
    "230100",
    "220100",
    "640100",
    "630100",
    "370100",
    "440600",
    "350200",
    "130100",
    "410100",
    "610100",
    "500000",
]

BRANDS = [
    "恒源",
    "华能",
    "绿源",
    "清泉",
    "远航",
    "鑫达",
    "瑞丰",
    "永安",
    "中科",
    "天成",
    "宏泰",
    "碧水",
    "蓝天",
    "金山",
    "润和",
    "盛世",
    "嘉禾",
    "长青",
    "东方",
    "新元",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰", "涛", "明", "超", "霞", "平"]
VERIFIERS = ["华信碳核查技术服务有限公司", "中绿认证中心有限公司", "环宇低碳评价有限公司"]
METHODOLOGY = {
    "M2": "CCER-14-001-V01 并网光热/风力发电方法学",
    "M3": "GB/T 32150 工业企业温室气体排放核算和报告通则",
    "M4": "CCUS 项目减排量核算指南（试行）",
    "M5": "CCER 甲烷回收利用方法学",
    "M6": "CCER-14-002-V01 造林碳汇方法学",
    "M1": "ISO 14064-2 项目层次温室气体减排量化",
}
RETURN_REASONS = [
    "碳减排量核算基线不清晰，请补充测算依据。",
    "项目可研批复文件缺失。",
    "融资需求与总投资口径不一致，请核实。",
]
REJECT_REASONS = ["项目不属于气候投融资支持范围。", "项目业主存在严重失信记录。"]
# What a region gives as an exit's reason code, with its words (non_compliant is the admin's).
EXIT_REASONS = [
    ("completed", "项目已建成投产。"),
    ("financing_fulfilled", "融资需求已满足。"),
    ("cancelled", "项目业主申请取消。"),
]
DECLINE_REASONS = ["已选择利率更低的报价。", "期限与项目现金流不匹配。"]
NOT_FINANCED = ["credit_risk", "insufficient_collateral", "terms_not_agreed", "project_not_ready"]

# Lifecycle mix (in_library the majority) and funnel mix; each appears at least once.
STATUS_WEIGHTS = {
    "in_library": 55,
    "draft": 8,
    "submitted": 7,
    "recommended": 6,
    "returned": 5,
    "rejected": 4,
    "withdrawn": 5,
    "exited": 10,
}
FUNNEL_WEIGHTS = {
    "offered": 30,
    "accepted": 10,
    "declined": 15,
    "contacted": 10,
    "due_diligence": 10,
    "financed": 15,
    "not_financed": 10,
}
FUNNEL_STEPS: dict[str, list[str]] = {
    "offered": [],
    "accepted": ["accept"],
    "declined": ["decline"],
    "contacted": ["accept", "contact"],
    "due_diligence": ["accept", "contact", "due_diligence"],
    "financed": ["accept", "contact", "due_diligence", "financed"],
    "not_financed": ["accept", "contact", "not_financed"],
}

# Where a demo project is put on the map: near its province's seat of government (approximate
# WGS 84 coordinates of each capital), moved a little per project. Demo data, not reference data.
CAPITALS: dict[str, tuple[float, float]] = {
    "11": (39.90, 116.40),
    "12": (39.13, 117.20),
    "13": (38.04, 114.51),
    "14": (37.87, 112.55),
    "15": (40.84, 111.75),
    "21": (41.80, 123.43),
    "22": (43.82, 125.32),
    "23": (45.80, 126.53),
    "31": (31.23, 121.47),
    "32": (32.06, 118.80),
    "33": (30.27, 120.16),
    "34": (31.82, 117.23),
    "35": (26.07, 119.30),
    "36": (28.68, 115.86),
    "37": (36.65, 117.12),
    "41": (34.75, 113.63),
    "42": (30.59, 114.31),
    "43": (28.23, 112.94),
    "44": (23.13, 113.26),
    "45": (22.82, 108.37),
    "46": (20.04, 110.35),
    "50": (29.56, 106.55),
    "51": (30.57, 104.07),
    "52": (26.65, 106.63),
    "53": (25.04, 102.71),
    "54": (29.65, 91.14),
    "61": (34.34, 108.94),
    "62": (36.06, 103.83),
    "63": (36.62, 101.78),
    "64": (38.49, 106.23),
    "65": (43.83, 87.62),
    "71": (25.03, 121.56),
    "81": (22.32, 114.17),
    "82": (22.20, 113.55),
}
